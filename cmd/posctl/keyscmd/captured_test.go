package keyscmd

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The field tool must reproduce what a terminal really sends. The purchase
// requests in testdata/captured_0200_*.txt were captured once from the
// terminal's own code path (terminal/dukptkeys for the keys,
// terminal/host's client for the message; see capture_test.go, built only
// with -tags capture). This test reads only those stored bytes and parses
// them with the frame layout written out below instead of calling
// terminal/host, so a change of that package's API cannot break it; a
// change of the wire format would need a new capture, on purpose.
//
// Frame layout (terminal/host/spec.go):
//
//	2 bytes   big-endian length of everything after it
//	5 bytes   optional TPDU: 0x60, destination, source (an ASCII MTI starts
//	          with a digit, never 0x60, so the first byte tells)
//	4 bytes   MTI, ASCII
//	8 bytes   primary bitmap; 8 more when bit 1 (secondary bitmap) is set
//	fields    in ascending order: n/an/ans fixed fields in ASCII, b fixed
//	          fields raw; LLVAR/LLLVAR fields with a 2/3-digit ASCII length
//	          counting bytes, then the bytes
type isoField struct {
	fixed  int // fixed length in bytes; 0 for a variable field
	prefix int // 2 (LLVAR) or 3 (LLLVAR) length digits for variable fields
}

var capturedSpec = map[int]isoField{
	3: {fixed: 6}, 4: {fixed: 12}, 7: {fixed: 10}, 11: {fixed: 6}, 12: {fixed: 6},
	13: {fixed: 4}, 22: {fixed: 3}, 25: {fixed: 2}, 37: {fixed: 12}, 38: {fixed: 6},
	39: {fixed: 2}, 41: {fixed: 8}, 42: {fixed: 15}, 49: {fixed: 3},
	52: {prefix: 2}, 53: {prefix: 2}, 55: {prefix: 3}, 60: {prefix: 3}, 62: {prefix: 3},
	64: {fixed: 8}, 70: {fixed: 3}, 90: {fixed: 42}, 128: {fixed: 8},
}

// parseCapturedFrame returns the MTI and the fields of one frame.
func parseCapturedFrame(frame []byte) (string, map[int][]byte, error) {
	if len(frame) < 2 || int(binary.BigEndian.Uint16(frame)) != len(frame)-2 {
		return "", nil, fmt.Errorf("length header does not match the %d bytes after it", len(frame)-2)
	}
	b := frame[2:]
	if len(b) > 0 && b[0] == 0x60 {
		if len(b) < 5 {
			return "", nil, fmt.Errorf("short TPDU")
		}
		b = b[5:]
	}
	take := func(n int) ([]byte, error) {
		if n > len(b) {
			return nil, fmt.Errorf("%d bytes wanted, %d left", n, len(b))
		}
		v := b[:n]
		b = b[n:]
		return v, nil
	}
	mti, err := take(4)
	if err != nil {
		return "", nil, fmt.Errorf("MTI: %w", err)
	}
	bitmap, err := take(8)
	if err != nil {
		return "", nil, fmt.Errorf("bitmap: %w", err)
	}
	if bitmap[0]&0x80 != 0 {
		second, err := take(8)
		if err != nil {
			return "", nil, fmt.Errorf("secondary bitmap: %w", err)
		}
		bitmap = append(bytes.Clone(bitmap), second...)
	}
	fields := map[int][]byte{}
	for de := 2; de <= 8*len(bitmap); de++ {
		if bitmap[(de-1)/8]&(0x80>>((de-1)%8)) == 0 {
			continue
		}
		spec, ok := capturedSpec[de]
		if !ok {
			return "", nil, fmt.Errorf("DE%d is not in the spec", de)
		}
		n := spec.fixed
		if n == 0 {
			digits, err := take(spec.prefix)
			if err != nil {
				return "", nil, fmt.Errorf("DE%d length: %w", de, err)
			}
			if n, err = strconv.Atoi(string(digits)); err != nil {
				return "", nil, fmt.Errorf("DE%d length %q", de, digits)
			}
		}
		v, err := take(n)
		if err != nil {
			return "", nil, fmt.Errorf("DE%d: %w", de, err)
		}
		fields[de] = v
	}
	if len(b) != 0 {
		return "", nil, fmt.Errorf("%d bytes after the last field", len(b))
	}
	return string(mti), fields, nil
}

// readCapture reads the "name: value" lines of a capture file.
func readCapture(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%s: line %q is not name: value", path, line)
		}
		kv[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mode", "bdk", "track2", "pan", "pin", "frame"} {
		if kv[k] == "" {
			t.Fatalf("%s: no %s", path, k)
		}
	}
	return kv
}

// keys runs "posctl keys" and returns its one output line.
func keys(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := run(&Cmd{}, args...)
	if code != ExitOK {
		t.Fatalf("keys %s: exit %d, %s", strings.Join(args[:2], " "), code, errs)
	}
	return strings.TrimSpace(out)
}

func TestCapturedPurchase(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "captured_0200_*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("want the TDES and the AES capture, found %v", paths)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c := readCapture(t, path)
			frame, err := hex.DecodeString(c["frame"])
			if err != nil {
				t.Fatal(err)
			}
			mti, fields, err := parseCapturedFrame(frame)
			if err != nil {
				t.Fatal(err)
			}
			if mti != "0200" {
				t.Fatalf("MTI %q, want 0200", mti)
			}
			ksn, track, pinBlock := fields[53], fields[62], fields[52]
			if len(ksn) == 0 || len(track) == 0 || len(pinBlock) == 0 {
				t.Fatalf("DE53, DE62 or DE52 missing (fields %d)", len(fields))
			}
			if bytes.Contains(frame, []byte(c["track2"])) || bytes.Contains(frame, []byte(c["pan"])) {
				t.Fatal("the captured frame carries the clear track or PAN")
			}
			mode, ksnHex := c["mode"], hex.EncodeToString(ksn)
			clearHex := strings.ToUpper(hex.EncodeToString([]byte(c["track2"])))
			wantEnc := strings.ToUpper(hex.EncodeToString(track))

			// From the BDK, as the acquirer or a field engineer holds it.
			base := []string{"--mode", mode, "--bdk", c["bdk"], "--ksn", ksnHex}
			if got := keys(t, append([]string{"dukpt", "encrypt-request", "--data", clearHex}, base...)...); got != wantEnc {
				t.Errorf("encrypt-request = %s, the terminal sent %s", got, wantEnc)
			}
			if got := keys(t, append([]string{"dukpt", "decrypt-request", "--data", wantEnc}, base...)...); got != clearHex {
				t.Errorf("decrypt-request = %s, want the track %s", got, clearHex)
			}
			if got := keys(t, append([]string{"dukpt", "decrypt-pin", "--pinblock", hex.EncodeToString(pinBlock), "--pan", c["pan"]}, base...)...); got != c["pin"] {
				t.Errorf("decrypt-pin = %q, want %q", got, c["pin"])
			}
			if mode == "tdes" { // format 0 has no random fill: the block itself must match
				want := strings.ToUpper(hex.EncodeToString(pinBlock))
				if got := keys(t, append([]string{"dukpt", "encrypt-pin", "--pin", c["pin"], "--pan", c["pan"]}, base...)...); got != want {
					t.Errorf("encrypt-pin = %s, the terminal sent %s", got, want)
				}
			}

			// From the initial key, as it was injected into the terminal.
			ik := keys(t, "dukpt", "derive-ik", "--mode", mode, "--bdk", c["bdk"], "--ksn", ksnHex)
			fromIK := []string{"dukpt", "encrypt-request", "--mode", mode, "--ik", ik, "--ksn", ksnHex, "--data", clearHex}
			if got := keys(t, fromIK...); got != wantEnc {
				t.Errorf("encrypt-request --ik = %s, the terminal sent %s", got, wantEnc)
			}
		})
	}
}

// The frame parser of the test itself must refuse what is not a frame, or
// a damaged capture could pass for an empty one.
func TestParseCapturedFrameRejects(t *testing.T) {
	frame := func(body string) []byte {
		b := make([]byte, 2, 2+len(body))
		binary.BigEndian.PutUint16(b, uint16(len(body)))
		return append(b, body...)
	}
	de3 := "0800" + "\x20\x00\x00\x00\x00\x00\x00\x00" // bitmap: DE3 only
	for _, body := range []string{de3 + "000000", "\x60\x00\x01\xFF\xFF" + de3 + "000000"} {
		if mti, f, err := parseCapturedFrame(frame(body)); err != nil || mti != "0800" || string(f[3]) != "000000" || len(f) != 1 {
			t.Fatalf("well-formed frame %q: %q %v %v", body, mti, f, err)
		}
	}
	bad := map[string][]byte{
		"empty":         nil,
		"short field":   frame(de3 + "0000"),
		"trailing":      frame(de3 + "000000x"),
		"length":        append([]byte{0, 99}, frame(de3 + "000000")[2:]...),
		"short bitmap":  frame("0800\x20\x00"),
		"unknown field": frame("0800\x08\x00\x00\x00\x00\x00\x00\x00" + "000000"),
		"bad LL":        frame("0800\x00\x00\x00\x00\x00\x00\x08\x00" + "1X" + "0123456789"),
	}
	for name, b := range bad {
		if _, _, err := parseCapturedFrame(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
