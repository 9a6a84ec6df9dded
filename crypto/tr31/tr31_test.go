package tr31

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"posd/internal/testhex"
	"strings"
	"testing"
)

// recoverPadding decrypts a published block with the package internals and
// returns the random padding its author used, so that Wrap can be checked
// to reproduce the block byte for byte.
func recoverPadding(t *testing.T, kbpk []byte, block string) []byte {
	t.Helper()
	h, hdrLen, err := parseHeader(block)
	if err != nil {
		t.Fatal(err)
	}
	_, macLen, _ := versionParams(h.Version)
	body := block[hdrLen:]
	ct := testhex.Bytes(t, body[:len(body)-2*macLen])
	mac := testhex.Bytes(t, body[len(body)-2*macLen:])
	var payload []byte
	switch h.Version {
	case VersionA, VersionC:
		payload, err = openVariant(kbpk, block[:hdrLen], ct, mac)
	case VersionB:
		payload, err = openDerived(kbpk, block[:hdrLen], ct, mac, false)
	case VersionD:
		payload, err = openDerived(kbpk, block[:hdrLen], ct, mac, true)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.BigEndian.Uint16(payload)) / 8
	return payload[2+n:]
}

// Wrap must reproduce every published block when fed the same padding.
func TestWrapReproducesPublishedBlocks(t *testing.T) {
	for _, v := range publishedVectors {
		t.Run(v.name, func(t *testing.T) {
			kbpk := testhex.Bytes(t, strings.ReplaceAll(v.kbpk, " ", ""))
			key := testhex.Bytes(t, v.key)
			h, err := ParseHeader(v.block)
			if err != nil {
				t.Fatal(err)
			}
			pad := recoverPadding(t, kbpk, v.block)
			bs, _, _ := versionParams(h.Version)
			o := WrapOptions{}
			if len(pad) >= bs { // the author obfuscated the key length
				o.MaskedKeyLen = len(key) + len(pad)/bs*bs
			}
			got, err := WrapOpts(kbpk, h, key, bytes.NewReader(pad), o)
			if err != nil {
				t.Fatalf("WrapOpts: %v", err)
			}
			if got != v.block {
				t.Errorf("Wrap =\n%s\nwant\n%s", got, v.block)
			}
		})
	}
}

var roundTripCases = []struct {
	version byte
	kbpkLen int
	alg     byte
	keyLen  int
}{
	{'A', 16, 'T', 16}, {'A', 24, 'T', 24}, {'A', 24, 'T', 16},
	{'B', 16, 'T', 16}, {'B', 24, 'T', 24}, {'B', 24, 'T', 16},
	{'C', 16, 'T', 16}, {'C', 24, 'T', 24}, {'C', 16, 'D', 8},
	{'D', 16, 'A', 16}, {'D', 24, 'A', 24}, {'D', 32, 'A', 32},
	{'D', 32, 'T', 16}, {'D', 32, 'T', 24}, {'D', 16, 'A', 32},
	{'D', 32, 'H', 64}, {'B', 24, 'H', 20},
}

func TestRoundTrip(t *testing.T) {
	for _, c := range roundTripCases {
		for _, masked := range []int{0, 32, 40} {
			kbpk := make([]byte, c.kbpkLen)
			key := make([]byte, c.keyLen)
			rand.Read(kbpk)
			rand.Read(key)
			h := Header{Version: c.version, KeyUsage: "K0", Algorithm: c.alg, ModeOfUse: 'B',
				KeyVersion: "01", Exportability: 'E', KeyContext: ContextStorage,
				Blocks: []OptBlock{{ID: "KS", Data: "FFFF9876543210E00000"}, {ID: "KC"}, {ID: "KP"}, {ID: "TS", Data: "20240102030405Z"}}}
			if c.alg == 'H' {
				h.Blocks = append(h.Blocks[:1], OptBlock{ID: "HM", Data: "21"})
			}
			o := WrapOptions{MaskedKeyLen: masked}
			if masked != 0 && masked < c.keyLen {
				o.MaskedKeyLen = c.keyLen
			}
			block, err := WrapOpts(kbpk, h, key, rand.Reader, o)
			if err != nil {
				t.Fatalf("%c/%d/%c/%d: WrapOpts: %v", c.version, c.kbpkLen, c.alg, c.keyLen, err)
			}
			if o.MaskedKeyLen > 0 {
				// The payload length depends only on the masked length.
				bs, macLen, _ := versionParams(c.version)
				want := (2 + o.MaskedKeyLen + bs - 1) / bs * bs
				_, hl, _ := parseHeader(block)
				if got := (len(block) - hl - 2*macLen) / 2; got != want {
					t.Errorf("payload %d bytes, want %d", got, want)
				}
			}
			h2, key2, err := Unwrap(kbpk, block)
			if err != nil {
				t.Fatalf("%c/%d/%c/%d: Unwrap: %v (%s)", c.version, c.kbpkLen, c.alg, c.keyLen, err, block[:16])
			}
			if !bytes.Equal(key, key2) {
				t.Errorf("%c: key mismatch", c.version)
			}
			if h2.Version != c.version || h2.KeyUsage != "K0" || h2.Algorithm != c.alg || h2.ModeOfUse != 'B' ||
				h2.KeyVersion != "01" || h2.Exportability != 'E' || h2.KeyContext != '1' {
				t.Errorf("header %+v", h2)
			}
			if ks, _ := h2.Block("KS"); ks != "FFFF9876543210E00000" {
				t.Errorf("KS = %q", ks)
			}
			if _, ok := h2.Block("PB"); ok {
				t.Errorf("PB leaked into Blocks")
			}
			// Re-rendering the parsed header gives back the block's header.
			if hs := h2.String(); hs[5:] != block[5:len(hs)] {
				t.Errorf("String() = %s, block %s", hs, block[:len(hs)])
			}
		}
	}
}

// Every single-character change of a block must be rejected.
func TestTamperEveryCharacter(t *testing.T) {
	for _, c := range roundTripCases {
		kbpk := make([]byte, c.kbpkLen)
		key := make([]byte, c.keyLen)
		rand.Read(kbpk)
		rand.Read(key)
		h := Header{Version: c.version, KeyUsage: "P0", Algorithm: c.alg, ModeOfUse: 'E', Exportability: 'N',
			Blocks: []OptBlock{{ID: "KS", Data: "FFFF9876543210E00000"}}}
		block, err := Wrap(kbpk, h, key, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(block); i++ {
			for _, r := range []byte{'0', '1', 'A', 'F', 'a', 'Z', ' '} {
				if block[i] == r {
					continue
				}
				bad := block[:i] + string(r) + block[i+1:]
				if _, k, err := Unwrap(kbpk, bad); err == nil {
					t.Fatalf("%c: change at %d to %q accepted, key len %d", c.version, i, r, len(k))
				}
			}
		}
		// Truncation and extension fail too.
		for _, bad := range []string{block[:len(block)-1], block + "0", block[:len(block)-2]} {
			if _, _, err := Unwrap(kbpk, bad); err == nil {
				t.Fatalf("%c: resized block accepted", c.version)
			}
		}
		// A payload or MAC change with the right syntax is a MAC failure.
		last := len(block) - 1
		flip := byte('0')
		if block[last] == '0' {
			flip = '1'
		}
		if _, _, err := Unwrap(kbpk, block[:last]+string(flip)); !errors.Is(err, ErrMAC) {
			t.Fatalf("%c: MAC change: %v, want ErrMAC", c.version, err)
		}
		mid := len(block) - 40
		flip = '0'
		if block[mid] == '0' {
			flip = '1'
		}
		if _, _, err := Unwrap(kbpk, block[:mid]+string(flip)+block[mid+1:]); !errors.Is(err, ErrMAC) {
			t.Fatalf("%c: payload change: %v, want ErrMAC", c.version, err)
		}
		// Changing a header field that stays valid must be a MAC failure.
		hb := []byte(block)
		hb[11] = 'S' // exportability N -> S
		if _, _, err := Unwrap(kbpk, string(hb)); !errors.Is(err, ErrMAC) {
			t.Fatalf("%c: header change: %v, want ErrMAC", c.version, err)
		}
	}
}

func TestParseHeader(t *testing.T) {
	h, err := ParseHeader("B0000P0TE00N0400KS1800604B120F9292800000T104T20600PB0600")
	if err != nil {
		t.Fatal(err)
	}
	want := []OptBlock{{"KS", "00604B120F9292800000"}, {"T1", ""}, {"T2", "00"}}
	if len(h.Blocks) != len(want) {
		t.Fatalf("blocks %+v", h.Blocks)
	}
	for i := range want {
		if h.Blocks[i] != want[i] {
			t.Errorf("block %d = %+v, want %+v", i, h.Blocks[i], want[i])
		}
	}
	if h.KeyContext != '0' || h.Version != 'B' || h.KeyUsage != "P0" {
		t.Errorf("header %+v", h)
	}
	if s := h.String(); s != "B0000P0TE00N0400KS1800604B120F9292800000T104T20600PB0600" {
		t.Errorf("String() = %s", s)
	}

	// Long length form: "00", number of length digits, length.
	long := strings.Repeat("P", 300)
	s := Header{Version: 'D', KeyUsage: "D0", Algorithm: 'A', ModeOfUse: 'D', Exportability: 'N',
		Blocks: []OptBlock{{"LB", long}}}.String()
	if !strings.HasPrefix(s[16:], "LB00040136"+long) {
		t.Errorf("long form rendered as %s", s[16:30])
	}
	h, err = ParseHeader(s)
	if err != nil {
		t.Fatal(err)
	}
	if lb, _ := h.Block("LB"); lb != long {
		t.Errorf("LB round trip lost data")
	}
	// The long form may be used for a short block too.
	h, err = ParseHeader("B0000P0TE00N0200KS0004001E00604B120F9292800000PB0AXXXXXX")
	if err != nil {
		t.Fatal(err)
	}
	if ks, _ := h.Block("KS"); ks != "00604B120F9292800000" {
		t.Errorf("KS = %q", ks)
	}
}

func TestParseHeaderRejects(t *testing.T) {
	cases := []struct {
		s   string
		err error
	}{
		{"", ErrFormat},
		{"B0000P0TE00N000", ErrFormat},
		{"E0000P0TE00N0000", ErrUnsupportedVersion},
		{"10000P0TE00N0000", ErrUnsupportedVersion},
		{"B00X0P0TE00N0000", ErrLength},
		{"B0000p0TE00N0000", ErrHeader},
		{"B0000P0_E00N0000", ErrHeader},
		{"B0000P0TQ00N0000", ErrHeader},
		{"B0000P0TE0_N0000", ErrHeader},
		{"B0000P0TE00Q0000", ErrHeader},
		{"B0000P0TE00N0X00", ErrHeader},
		{"B0000P0TE00N0030", ErrHeader},
		{"B0000P0TE00N0001", ErrHeader},
		{"B0000P0TE00N0100", ErrOptBlock},
		{"B0000P0TE00N0100KS", ErrOptBlock},
		{"B0000P0TE00N0100KS1", ErrOptBlock},
		{"B0000P0TE00N0100KS1Y", ErrOptBlock},
		{"B0000P0TE00N0100KS02", ErrOptBlock},
		{"B0000P0TE00N0100KS071", ErrOptBlock},
		{"B0000P0TE00N0100KS0000", ErrOptBlock},
		{"B0000P0TE00N0100KS0001FF", ErrOptBlock},
		{"B0000P0TE00N0100**04", ErrOptBlock},
		{"B0000P0TE00N0100KS05\x03", ErrOptBlock},
		{"B0000P0TE00N0100KS0C00604B12", ErrOptBlock},                 // KS too short
		{"B0000P0TE00N0100KS1800604b120f9292800000", ErrOptBlock},     // KS lower case
		{"B0000P0TE00N0200KS1800604B120F9292800000KS08", ErrOptBlock}, // duplicate
		{"B0000P0TE00N0200PB08XXXXKS08ABCD", ErrOptBlock},             // PB not last
		{"B0000P0TE00N0100T104", ErrOptBlock},                         // not a multiple of 8
		{"D0000P0AE00N0100T108ABCD", ErrOptBlock},                     // not a multiple of 16
		{"B0000P0TE00N0100KC0802AB", ErrOptBlock},                     // unknown KCV algorithm
		{"B0000P0TE00N0100TS1320201318221218Z", ErrOptBlock},          // month 13
		{"B0000P0TE00N0100IK0C12345678", ErrOptBlock},
	}
	for _, c := range cases {
		if _, err := ParseHeader(c.s); !errors.Is(err, c.err) {
			t.Errorf("ParseHeader(%q) = %v, want %v", c.s, err, c.err)
		}
	}
}

// Samples printed in ANSI X9.143:2021 that are wrong; the package must
// reject them rather than accept malformed input.
func TestWrongPublishedSamples(t *testing.T) {
	// 8.2: the KS block holds "VM9A", which is not an initial key serial
	// number (it must be hex).
	kbpk := testhex.Bytes(t, "E38331FBACE33F0B8694ABA5DC611CA20831949FEB8988102147291578F704E1")
	b82 := "D0192C0AVA1N0300KS08VM9ATS1A2018-06-18T20:42:39.22PB0E00000000005FDAFA00A1E84F599C2EB51A1F7A767D5E42314F0E84A3FC1A7B84C1DE81114659E6306AD544208F68F15602BD3E12DA0C7F9FC551F1C8E6385FAFC1F7B499F5"
	if _, _, err := Unwrap(kbpk, b82); !errors.Is(err, ErrOptBlock) {
		t.Errorf("8.2: err = %v, want ErrOptBlock", err)
	}
	// 8.3.2.1 and 8.3.2.2: the length field (0072, 0080) does not match
	// the obfuscated blocks printed (88 and 96 characters).
	b8321 := "A0072P0TE00E0000A8974C06DBFD58D197101A28DEC1A6C7C23F00A3B18EC6D538DE4A5B5F49A542D61A8A8B"
	if _, _, err := Unwrap(testhex.Bytes(t, "89E88CF7931444F334BD7547FC3F380C"), b8321); !errors.Is(err, ErrLength) {
		t.Errorf("8.3.2.1: err = %v, want ErrLength", err)
	}
	b8322 := "B0080P0TE00E000094B420079CC80BA3461F86FE26EFC4A38C6B0A146BF1B0BE0D3277F17A3AD5146EED7B727B8A248E"
	if _, _, err := Unwrap(testhex.Bytes(t, "DD7515F2BFC17F85CE48F3CA25CB21F6"), b8322); !errors.Is(err, ErrLength) {
		t.Errorf("8.3.2.2: err = %v, want ErrLength", err)
	}
}

// Optional blocks KC and KP filled in by Wrap, checked against the header
// of the openemv/tr31 export test (KBPK and key of TR-31:2018 A.7.4).
func TestKCKPBlocks(t *testing.T) {
	kbpk := testhex.Bytes(t, "88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6")
	key := testhex.Bytes(t, "3F419E1CB7079442AA37474C2EFBF8B8")
	h := Header{Version: 'D', KeyUsage: "P0", Algorithm: 'T', ModeOfUse: 'E', KeyVersion: "00", Exportability: 'E',
		Blocks: []OptBlock{{ID: "KC"}, {ID: "KP"}}}
	block, err := Wrap(kbpk, h, key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if want := "D0144P0TE00E0300KC0C0057C409KP10012331550BC9PB04"; block[:len(want)] != want {
		t.Errorf("header %s, want %s", block[:len(want)], want)
	}
	if _, _, err := Unwrap(kbpk, block); err != nil {
		t.Fatal(err)
	}
	// A KC that does not match the key is caught after the MAC verifies.
	h.Blocks = []OptBlock{{ID: "KC", Data: "00112233"}}
	block, err = Wrap(kbpk, h, key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Unwrap(kbpk, block); !errors.Is(err, ErrKCV) {
		t.Errorf("wrong KC: %v, want ErrKCV", err)
	}
}

func TestKeyCheckValue(t *testing.T) {
	cases := []struct {
		alg     byte
		key, id string
		kcv     string
	}{
		// TR-31:2018 A.7.2.2 key, legacy KCV; same key as AES from A.7.4
		// and X9.143:2021 8.1 (5-byte CMAC KCV 08793E25AB).
		{'T', "3F419E1CB7079442AA37474C2EFBF8B8", "00", "57C409"},
		{'A', "3F419E1CB7079442AA37474C2EFBF8B8", "01", "08793E25AB"},
		{'A', "88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6", "01", "2331550BC9"},
		{'T', "F039121BEC83D26B169BDCD5B22AAF8F", "00", "CB9DEA"},
	}
	for _, c := range cases {
		id, kcv, err := KeyCheckValue(c.alg, testhex.Bytes(t, c.key))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ToUpper(hex.EncodeToString(kcv)); id != c.id || got != c.kcv {
			t.Errorf("KCV(%c, %s) = %s %s, want %s %s", c.alg, c.key, id, got, c.id, c.kcv)
		}
	}
	if _, _, err := KeyCheckValue('R', []byte{1, 2, 3}); !errors.Is(err, ErrKCV) {
		t.Errorf("RSA KCV: %v", err)
	}
	if _, _, err := KeyCheckValue('A', []byte{1, 2, 3}); !errors.Is(err, ErrKCV) {
		t.Errorf("short AES KCV: %v", err)
	}
}

func TestWrapRejects(t *testing.T) {
	k16 := make([]byte, 16)
	k32 := make([]byte, 32)
	good := Header{Version: 'D', KeyUsage: "P0", Algorithm: 'A', ModeOfUse: 'E', Exportability: 'N'}
	cases := []struct {
		name string
		kbpk []byte
		h    func(Header) Header
		key  []byte
		o    WrapOptions
		rnd  io.Reader
		err  error
	}{
		{"bad version", k32, func(h Header) Header { h.Version = 'E'; return h }, k16, WrapOptions{}, rand.Reader, ErrUnsupportedVersion},
		{"kbpk length D", k16[:8], nil, k16, WrapOptions{}, rand.Reader, ErrKBPK},
		{"kbpk length B", k32, func(h Header) Header { h.Version = 'B'; h.Algorithm = 'T'; return h }, k16, WrapOptions{}, rand.Reader, ErrKBPK},
		{"aes key length", k32, nil, k16[:15], WrapOptions{}, rand.Reader, ErrKeyLength},
		{"tdes key length", k32, func(h Header) Header { h.Algorithm = 'T'; return h }, k32, WrapOptions{}, rand.Reader, ErrKeyLength},
		{"masked too short", k32, nil, k32, WrapOptions{MaskedKeyLen: 16}, rand.Reader, ErrKeyLength},
		{"usage", k32, func(h Header) Header { h.KeyUsage = "P"; return h }, k16, WrapOptions{}, rand.Reader, ErrHeader},
		{"mode", k32, func(h Header) Header { h.ModeOfUse = 'Q'; return h }, k16, WrapOptions{}, rand.Reader, ErrHeader},
		{"context", k32, func(h Header) Header { h.KeyContext = '3'; return h }, k16, WrapOptions{}, rand.Reader, ErrHeader},
		{"PB given", k32, func(h Header) Header { h.Blocks = []OptBlock{{"PB", "00"}}; return h }, k16, WrapOptions{}, rand.Reader, ErrOptBlock},
		{"dup block", k32, func(h Header) Header { h.Blocks = []OptBlock{{"T1", ""}, {"T1", ""}}; return h }, k16, WrapOptions{}, rand.Reader, ErrOptBlock},
		{"bad ID", k32, func(h Header) Header { h.Blocks = []OptBlock{{"T", ""}}; return h }, k16, WrapOptions{}, rand.Reader, ErrOptBlock},
		{"bad KS", k32, func(h Header) Header { h.Blocks = []OptBlock{{"KS", "XYZ"}}; return h }, k16, WrapOptions{}, rand.Reader, ErrOptBlock},
		{"too long", k32, func(h Header) Header { h.Blocks = []OptBlock{{"LB", strings.Repeat("x", 9990)}}; return h }, k16, WrapOptions{}, rand.Reader, ErrLength},
		{"rng fails", k32, nil, k16, WrapOptions{}, bytes.NewReader(nil), ErrRandom},
		{"no rng", k32, nil, k16, WrapOptions{}, nil, ErrRandom},
	}
	for _, c := range cases {
		h := good
		if c.h != nil {
			h = c.h(h)
		}
		if _, err := WrapOpts(c.kbpk, h, c.key, c.rnd, c.o); !errors.Is(err, c.err) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
		}
	}
}

func TestUnwrapRejects(t *testing.T) {
	kbpk := make([]byte, 32)
	block, err := Wrap(kbpk, Header{Version: 'D', KeyUsage: "P0", Algorithm: 'A', ModeOfUse: 'E', Exportability: 'N'},
		make([]byte, 16), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Unwrap(kbpk[:8], block); !errors.Is(err, ErrKBPK) {
		t.Errorf("short KBPK: %v", err)
	}
	if _, _, err := Unwrap(kbpk, strings.ToLower(block[:16])+block[16:]); err == nil {
		t.Errorf("lower-case header accepted")
	}
	if _, _, err := Unwrap(kbpk, block[:16]+strings.ToLower(block[16:])); !errors.Is(err, ErrFormat) {
		t.Errorf("lower-case hex: %v", err)
	}
	short := "D0048P0AE00N0000" + strings.Repeat("0", 32)
	if _, _, err := Unwrap(kbpk, short); !errors.Is(err, ErrLength) {
		t.Errorf("no payload: %v", err)
	}
}
