"""Kernel symbols: frames of a report to file:line (``frames.Symbolizer``, on
binutils' addr2line), the file syzkaller would blame (``guilty``), and the
KASLR offset and gdb command of a running guest (``kaslr``)."""
