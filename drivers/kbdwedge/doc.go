// Package kbdwedge decodes a keyboard-wedge device: a USB reader (magnetic
// stripe, barcode) that presents itself as a HID keyboard and types its
// data. On Linux such a device is an evdev input device
// (/dev/input/event*, /dev/input/by-id/*-event-kbd); the driver reads its
// struct input_event records from an io.Reader, turns key presses into
// characters through a Keymap, and is itself an io.Reader of those
// characters, so a text protocol driver (drivers/msr for a stripe reader)
// parses them as it would the bytes of a serial reader.
//
// The driver never opens the device: board/ opens it, grabs it
// (EVIOCGRAB, so the keystrokes reach no console or other reader) and
// passes it in with a read timeout.
//
// # Events
//
// struct input_event (include/uapi/linux/input.h) is
//
//	seconds, microseconds  __kernel_ulong_t each (struct timeval)
//	type                   __u16
//	code                   __u16
//	value                  __s32
//
// in the byte order of the machine: 24 bytes for a 64-bit process and 16
// bytes for a 32-bit one. The kernel writes the layout of the reading
// process: a 32-bit process on a 64-bit kernel gets the 16-byte struct
// input_event_compat (drivers/input/input-compat.h), and a 32-bit process
// built with a 64-bit time_t still gets 32-bit fields (the header's
// __USE_TIME_BITS64 branch uses __kernel_ulong_t). Layout says which;
// LayoutAuto picks the word size of this program, which is what the
// kernel does.
//
// Codes (include/uapi/linux/input-event-codes.h): EV_SYN 0 with SYN_REPORT
// 0 ending a packet and SYN_DROPPED 3 reporting that the kernel's buffer
// overflowed and events were lost; EV_KEY 1 with value 1 press, 0 release,
// 2 autorepeat (Documentation/input/input.rst); EV_MSC 4 / MSC_SCAN 4
// carrying the HID usage, ignored here. Only presses type characters;
// autorepeat is ignored (a reader never holds a key). Shift, Caps Lock and
// AltGr (right Alt) are tracked; a key pressed with Ctrl or left Alt types
// nothing. After SYN_DROPPED the events up to the next SYN_REPORT are
// ignored (Documentation/input/event-codes.rst) and the driver emits a CAN
// character (0x18), which drivers/msr reports as a lost swipe, since the
// characters of the dropped events are missing from the text.
//
// # Keymaps
//
// A key code is a key position, not a character: which character it types
// depends on the keyboard layout the reader is set to emulate. US is the
// US English layout (the factory setting of ID TECH and MagTek readers).
// Another layout is another Keymap value: copy US into a new file
// (keymap_de.go, say), change the entries whose characters differ on that
// layout (Plain, Shift and AltGr per key code), and add its name to
// Keymaps so board profiles can name it. Dead keys (a '^' that waits for
// the next key) are not supported: set the reader to a layout without
// them for the characters it sends, or to US.
package kbdwedge
