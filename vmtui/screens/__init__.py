"""The screens of vmtui."""
