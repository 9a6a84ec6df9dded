package kbdwedge_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"posd/drivers/kbdwedge"
	"posd/drivers/kbdwedge/kbdwedgesim"
	"posd/drivers/msr"
	"posd/internal/testhex"
)

// The events a USB keyboard produces for "?" then Enter, written by hand
// from include/uapi/linux/input.h (struct input_event: time, __u16 type,
// __u16 code, __s32 value; little-endian as on ARM) and
// input-event-codes.h (EV_SYN 0, EV_KEY 1, EV_MSC 4, MSC_SCAN 4,
// KEY_LEFTSHIFT 42 = 0x2A, KEY_SLASH 53 = 0x35, KEY_ENTER 28 = 0x1C; value
// 1 press, 0 release), with the HID usages hid-input reports in MSC_SCAN
// (0x700E1 left Shift, 0x70038 '/', 0x70028 Enter). Time: 1705029824 s
// (0x65A0B0C0) and 123456 µs (0x0001E240).
var questionEnter = []string{
	"0400 0400 E1000700", // MSC_SCAN left Shift
	"0100 2A00 01000000", // KEY_LEFTSHIFT press
	"0400 0400 38000700", // MSC_SCAN '/'
	"0100 3500 01000000", // KEY_SLASH press: '?'
	"0000 0000 00000000", // SYN_REPORT
	"0400 0400 E1000700",
	"0100 2A00 00000000", // KEY_LEFTSHIFT release
	"0400 0400 38000700",
	"0100 3500 00000000", // KEY_SLASH release
	"0000 0000 00000000",
	"0400 0400 28000700", // MSC_SCAN Enter
	"0100 1C00 01000000", // KEY_ENTER press: CR
	"0000 0000 00000000",
	"0400 0400 28000700",
	"0100 1C00 00000000", // KEY_ENTER release
	"0000 0000 00000000",
}

func trace(t testing.TB, l kbdwedge.Layout, tails []string) []byte {
	// 64-bit: __kernel_ulong_t seconds and microseconds, 8 bytes each;
	// 32-bit (and input_event_compat): 4 bytes each.
	tm := map[kbdwedge.Layout]string{
		kbdwedge.Layout64: "C0B0A065 00000000 40E20100 00000000",
		kbdwedge.Layout32: "C0B0A065 40E20100",
	}[l]
	var b []byte
	for _, tail := range tails {
		b = append(b, testhex.Bytes(t, tm+tail)...)
	}
	return b
}

func readAll(t testing.TB, d *kbdwedge.Dev) string {
	t.Helper()
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := d.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestTraceBothLayouts(t *testing.T) {
	for _, l := range []kbdwedge.Layout{kbdwedge.Layout64, kbdwedge.Layout32} {
		b := trace(t, l, questionEnter)
		if len(b) != len(questionEnter)*l.Size() || (l == kbdwedge.Layout64) != (l.Size() == 24) {
			t.Fatalf("%v: %d bytes", l, len(b))
		}
		e, err := kbdwedge.ParseEvent(b[l.Size():2*l.Size()], l, binary.LittleEndian)
		if err != nil || e.Sec != 0x65A0B0C0 || e.Usec != 123456 || e.Type != kbdwedge.EvKey || e.Code != kbdwedge.KeyLeftShift || e.Value != 1 {
			t.Fatalf("%v: event %+v, %v", l, e, err)
		}
		// Whole, and one byte at a time.
		for _, r := range []io.Reader{bytes.NewReader(b), iotest.OneByteReader(bytes.NewReader(b))} {
			d, err := kbdwedge.New(r, &kbdwedge.Opts{Layout: l, ByteOrder: binary.LittleEndian})
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, d); got != "?\r" {
				t.Fatalf("%v: got %q", l, got)
			}
		}
		// Read in the other layout, the second record is not the Shift
		// press.
		other := kbdwedge.Layout32
		if l == other {
			other = kbdwedge.Layout64
		}
		if e, _ := kbdwedge.ParseEvent(b[other.Size():2*other.Size()], other, binary.LittleEndian); e.Type == kbdwedge.EvKey && e.Code == kbdwedge.KeyLeftShift {
			t.Fatalf("%v record reads as %v", l, other)
		}
	}
	if _, err := kbdwedge.ParseEvent(make([]byte, 20), kbdwedge.Layout64, binary.LittleEndian); !errors.Is(err, kbdwedge.ErrEventSize) {
		t.Fatalf("short record: %v", err)
	}
	if _, err := kbdwedge.New(bytes.NewReader(nil), &kbdwedge.Opts{Layout: 7}); !errors.Is(err, kbdwedge.ErrLayout) {
		t.Fatalf("bad layout: %v", err)
	}
}

// stroke is how the test types a character on the US layout, written from
// input-event-codes.h independently of the driver's keymap.
func stroke(t testing.TB, c byte) (code uint16, shift bool) {
	switch {
	case c >= '1' && c <= '9':
		return uint16(2 + c - '1'), false
	case c == '0':
		return 11, false
	case c >= 'A' && c <= 'Z':
		// KEY_Q 16 … KEY_P 25, KEY_A 30 … KEY_L 38, KEY_Z 44 … KEY_M 50.
		for i, r := range []string{"QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM"} {
			if j := strings.IndexByte(r, c); j >= 0 {
				return uint16([]int{16, 30, 44}[i] + j), true
			}
		}
	}
	switch c {
	case '%':
		return 6, true // KEY_5
	case '^':
		return 7, true // KEY_6
	case '=':
		return 13, false // KEY_EQUAL
	case '+':
		return 13, true
	case ';':
		return 39, false // KEY_SEMICOLON
	case '/':
		return 53, false // KEY_SLASH
	case '?':
		return 53, true
	case ' ':
		return 57, false // KEY_SPACE
	case '\r':
		return 28, false // KEY_ENTER
	}
	t.Fatalf("no stroke for %q", c)
	return 0, false
}

// typeText packs the events a keyboard wedge sends for text: Shift and the
// key pressed in one report, released in the next (no MSC_SCAN: the
// decoder must not need it).
func typeText(t testing.TB, l kbdwedge.Layout, text string) []byte {
	var b []byte
	put := func(typ, code uint16, v int32) {
		var r [24]byte
		n := l.Size()
		binary.LittleEndian.PutUint32(r[0:], 1705029824) // seconds, low half
		binary.LittleEndian.PutUint16(r[n-8:], typ)
		binary.LittleEndian.PutUint16(r[n-6:], code)
		binary.LittleEndian.PutUint32(r[n-4:], uint32(v))
		b = append(b, r[:n]...)
	}
	for i := 0; i < len(text); i++ {
		code, shift := stroke(t, text[i])
		for _, v := range []int32{1, 0} {
			if shift {
				put(1, 54, v) // KEY_RIGHTSHIFT
			}
			put(1, code, v)
			put(0, 0, 0)
		}
	}
	return b
}

const (
	t1 = "B4761739001010010^TEST/CARD A^2912101000000000000000000000000"
	t2 = "4761739001010010=29121010000000000000"
)

// A swipe as an ID TECH keyboard-wedge reader types it (each track, then
// Enter) and as a MagTek one does (the tracks, then Enter), decoded and
// handed to the stripe reader driver.
func TestSwipeThroughMSR(t *testing.T) {
	texts := map[string]string{
		"idtech":              "%" + t1 + "?\r;" + t2 + "?\r",
		"magtek":              "%" + t1 + "?;" + t2 + "?\r",
		"magtek, bad track 1": "%E?;" + t2 + "?\r",
	}
	for name, text := range texts {
		for _, l := range []kbdwedge.Layout{kbdwedge.Layout64, kbdwedge.Layout32} {
			t.Run(name+"/"+l.String(), func(t *testing.T) {
				b := typeText(t, l, text)
				wedge, err := kbdwedge.New(&eofAtEnd{r: bytes.NewReader(b)}, &kbdwedge.Opts{Layout: l, ByteOrder: binary.LittleEndian})
				if err != nil {
					t.Fatal(err)
				}
				o := msr.DefaultOpts
				o.SwipeGap, o.IdleSleep = 20*time.Millisecond, time.Millisecond
				d, err := msr.New(wedge, &o)
				if err != nil {
					t.Fatal(err)
				}
				defer d.Halt()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				sw, err := d.Read(ctx)
				if err != nil || sw.Track2 == nil || string(sw.Track2.Raw) != t2 {
					t.Fatalf("got %v, %v", sw, err)
				}
				if strings.Contains(name, "bad") != (sw.Track1 == nil) {
					t.Fatalf("track 1: %v", sw)
				}
			})
		}
	}
}

// eofAtEnd returns io.EOF once drained, like a device read that timed out.
type eofAtEnd struct{ r io.Reader }

func (e *eofAtEnd) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF && n == 0 {
		time.Sleep(time.Millisecond)
	}
	return n, err
}

func TestSimulatorRoundTrip(t *testing.T) {
	text := "%" + t1 + "?;" + t2 + "?+011234=99?\r" + "abc xyz[]{}'\"`~\\|,.<>/!@#$&*()_-\t"
	for _, l := range []kbdwedge.Layout{kbdwedge.LayoutAuto, kbdwedge.Layout64, kbdwedge.Layout32} {
		var buf bytes.Buffer
		sim := kbdwedgesim.New(&buf, &kbdwedgesim.Opts{Layout: l})
		if err := sim.Type(text); err != nil {
			t.Fatal(err)
		}
		if buf.Len()%l.Size() != 0 {
			t.Fatalf("%v: %d bytes", l, buf.Len())
		}
		d, _ := kbdwedge.New(&buf, &kbdwedge.Opts{Layout: l})
		if got := readAll(t, d); got != text {
			t.Fatalf("%v: got %q", l, got)
		}
	}
	if err := kbdwedgesim.New(io.Discard, nil).Type("é"); err == nil {
		t.Fatal("typed a character the keymap lacks")
	}
}

// ev packs one 64-bit event.
func ev(typ, code uint16, v int32) []byte {
	b, _ := kbdwedge.AppendEvent(nil, kbdwedge.Event{Type: typ, Code: code, Value: v}, kbdwedge.Layout64, binary.LittleEndian)
	return b
}

func press(code uint16) []byte {
	return bytes.Join([][]byte{ev(1, code, 1), ev(0, 0, 0), ev(1, code, 0), ev(0, 0, 0)}, nil)
}

func TestModifiers(t *testing.T) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"caps lock inverts letters only", cat(press(kbdwedge.KeyCapsLock), press(kbdwedge.KeyA), press(kbdwedge.Key1),
			ev(1, kbdwedge.KeyLeftShift, 1), press(kbdwedge.KeyA), ev(1, kbdwedge.KeyLeftShift, 0),
			press(kbdwedge.KeyCapsLock), press(kbdwedge.KeyA)), "A1aa"},
		{"autorepeat types nothing", cat(ev(1, kbdwedge.KeyB, 1), ev(1, kbdwedge.KeyB, 2), ev(1, kbdwedge.KeyB, 2), ev(1, kbdwedge.KeyB, 0)), "b"},
		{"ctrl suppresses", cat(ev(1, kbdwedge.KeyLeftCtrl, 1), press(kbdwedge.KeyC), ev(1, kbdwedge.KeyLeftCtrl, 0), press(kbdwedge.KeyC)), "c"},
		{"both shifts", cat(ev(1, kbdwedge.KeyLeftShift, 1), ev(1, kbdwedge.KeyRightShift, 1), ev(1, kbdwedge.KeyLeftShift, 0),
			press(kbdwedge.KeySemicolon), ev(1, kbdwedge.KeyRightShift, 0), press(kbdwedge.KeySemicolon)), ":;"},
		{"keypad", cat(press(kbdwedge.KeyKP7), press(kbdwedge.KeyKP0), press(kbdwedge.KeyKPEnter)), "70\r"},
		{"unknown keys and types", cat(press(kbdwedge.KeyEsc), press(240), ev(2, 0, 5), ev(3, 0, 100), press(kbdwedge.KeyZ)), "z"},
		{"SYN_DROPPED: CAN, events up to SYN_REPORT ignored, shift released",
			cat(ev(1, kbdwedge.KeyLeftShift, 1), ev(0, kbdwedge.SynDropped, 0), ev(1, kbdwedge.KeyQ, 1), ev(0, 0, 0), press(kbdwedge.KeyQ)), "\x18q"},
	}
	for _, c := range cases {
		d, _ := kbdwedge.New(bytes.NewReader(c.in), &kbdwedge.Opts{Layout: kbdwedge.Layout64, ByteOrder: binary.LittleEndian})
		if got := readAll(t, d); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// pipeReader gives a test control over when bytes arrive.
type pipeReader struct {
	mu sync.Mutex
	ch chan []byte
	r  []byte
}

func (p *pipeReader) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.r) == 0 {
		select {
		case p.r = <-p.ch:
		case <-time.After(5 * time.Millisecond):
			return 0, io.EOF
		}
	}
	n := copy(b, p.r)
	p.r = p.r[n:]
	return n, nil
}

func TestHalt(t *testing.T) {
	p := &pipeReader{ch: make(chan []byte, 4)}
	d, _ := kbdwedge.New(p, &kbdwedge.Opts{Layout: kbdwedge.Layout64, ByteOrder: binary.LittleEndian})
	if d.String() != "kbdwedge" {
		t.Errorf("String: %q", d.String())
	}
	// Shift held and half a record pending when Halt comes.
	sh := ev(1, kbdwedge.KeyLeftShift, 1)
	p.ch <- append(sh, ev(1, kbdwedge.KeyA, 1)[:10]...)
	if n, err := d.Read(make([]byte, 8)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("partial: %d %v", n, err)
	}
	d.Halt()
	p.ch <- ev(1, kbdwedge.KeyA, 1)[10:] // rest of the record split before Halt
	d.Read(make([]byte, 8))
	p.ch <- press(kbdwedge.KeyA)
	buf := make([]byte, 8)
	n, err := d.Read(buf)
	if err != nil || string(buf[:n]) != "a" {
		t.Fatalf("after Halt: %q %v", buf[:n], err)
	}
}

func TestKeymaps(t *testing.T) {
	if m, err := kbdwedge.LookupKeymap(""); err != nil || m[kbdwedge.KeyA].Plain != 'a' {
		t.Fatalf("default keymap: %v", err)
	}
	if _, err := kbdwedge.LookupKeymap("dvorak"); !errors.Is(err, kbdwedge.ErrKeymap) {
		t.Fatalf("unknown keymap: %v", err)
	}
	// Every printable ASCII character is typed by exactly the key the
	// keymap says, and digits come from the main row.
	for c := byte(' '); c < 0x7F; c++ {
		st, ok := kbdwedge.US.Stroke(c)
		if !ok {
			t.Errorf("US cannot type %q", c)
			continue
		}
		k := kbdwedge.US[st.Code]
		if got := map[bool]byte{false: k.Plain, true: k.Shift}[st.Shift]; got != c {
			t.Errorf("%q: stroke %+v types %q", c, st, got)
		}
	}
	if st, _ := kbdwedge.US.Stroke('7'); st.Code != kbdwedge.Key1+6 {
		t.Errorf("'7' from key %d", st.Code)
	}
	for _, s := range []string{"auto", "64", "32"} {
		l, err := kbdwedge.ParseLayout(s)
		if err != nil || l.String() != s {
			t.Errorf("layout %q: %v %v", s, l, err)
		}
	}
	if _, err := kbdwedge.ParseLayout("48"); !errors.Is(err, kbdwedge.ErrLayout) {
		t.Errorf("bad layout name: %v", err)
	}
}

// FuzzDecode feeds arbitrary bytes as events of either layout: the
// decoder never fails, and types only characters of the keymap or CAN,
// at most one per event.
func FuzzDecode(f *testing.F) {
	f.Add(trace(f, kbdwedge.Layout64, questionEnter), true)
	f.Add(trace(f, kbdwedge.Layout32, questionEnter), false)
	f.Add(typeText(f, kbdwedge.Layout64, "%B4^A?;4=1?\r"), true)
	f.Add(bytes.Join([][]byte{ev(0, kbdwedge.SynDropped, 0), press(kbdwedge.KeyCapsLock), press(kbdwedge.KeyA)}, nil), true)
	typable := map[byte]bool{kbdwedge.CAN: true}
	for _, k := range kbdwedge.US {
		typable[k.Plain], typable[k.Shift] = true, true
	}
	f.Fuzz(func(t *testing.T, in []byte, wide bool) {
		l := kbdwedge.Layout32
		if wide {
			l = kbdwedge.Layout64
		}
		d, err := kbdwedge.New(iotest.HalfReader(bytes.NewReader(in)), &kbdwedge.Opts{Layout: l, ByteOrder: binary.LittleEndian})
		if err != nil {
			t.Fatal(err)
		}
		out := readAll(t, d)
		if len(out) > len(in)/l.Size() {
			t.Fatalf("%d characters from %d events", len(out), len(in)/l.Size())
		}
		for i := 0; i < len(out); i++ {
			if !typable[out[i]] {
				t.Fatalf("typed %q", out[i])
			}
		}
	})
}

// LayoutAuto is the layout the kernel writes for this program: 24-byte
// events for a 64-bit program, 16-byte ones for a 32-bit program (the
// compat struct), whatever the time_t of its C library.
func TestLayoutAuto(t *testing.T) {
	want := map[int]int{64: 24, 32: 16}[strconv.IntSize]
	if got := kbdwedge.LayoutAuto.Size(); got != want {
		t.Fatalf("auto: %d-byte events in a %d-bit program", got, strconv.IntSize)
	}
}
