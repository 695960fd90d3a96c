"""Kernel reports with syzkaller's titles, evidence folders, unique crashes."""
