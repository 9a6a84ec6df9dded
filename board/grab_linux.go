package board

import (
	"os"

	"golang.org/x/sys/unix"
)

// evIOCGrab is EVIOCGRAB, _IOW('E', 0x90, int) in include/uapi/linux/input.h,
// encoded as include/uapi/asm-generic/ioctl.h does on ARM and x86:
// direction write (1) << 30 | size 4 << 16 | type 'E' (0x45) << 8 | 0x90.
const evIOCGrab = 1<<30 | 4<<16 | 'E'<<8 | 0x90

// grabInput takes an input device for this file alone: the kernel's evdev
// handler (drivers/input/evdev.c, EVIOCGRAB with a non-zero argument)
// then delivers its events to no other reader, the console included,
// until the file is closed.
func grabInput(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		gerr = unix.IoctlSetInt(int(fd), evIOCGrab, 1)
	}); err != nil {
		return err
	}
	return gerr
}
