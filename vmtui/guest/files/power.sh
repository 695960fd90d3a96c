#!/bin/sh
# The ACPI power button (QMP system_powerdown): shut down cleanly.
echo "vmtui-guest: power button pressed, powering off"
exec /sbin/poweroff
