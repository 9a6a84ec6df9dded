package emv

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/moov-io/bertlv"
)

// tag is a BER-TLV tag held as the big-endian integer of its bytes
// (0x9F02); EMV tags have 1 to 3 bytes.
type tag uint32

// String returns the tag in upper-case hex ("9F02").
func (t tag) String() string { return strings.ToUpper(hex.EncodeToString(t.bytes())) }

// bytes returns the tag's encoding.
func (t tag) bytes() []byte {
	switch {
	case t > 0xFFFFFF:
		return []byte{byte(t >> 24), byte(t >> 16), byte(t >> 8), byte(t)}
	case t > 0xFFFF:
		return []byte{byte(t >> 16), byte(t >> 8), byte(t)}
	case t > 0xFF:
		return []byte{byte(t >> 8), byte(t)}
	}
	return []byte{byte(t)}
}

// constructed reports whether the tag's first byte has bit 6 set.
func (t tag) constructed() bool { return t.bytes()[0]&0x20 != 0 }

// parseTag reads a tag in hex, as bertlv returns it.
func parseTag(s string) (tag, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 || len(b) > 4 {
		return 0, fmt.Errorf("%w: tag %q", ErrTLV, s)
	}
	var t tag
	for _, x := range b {
		t = t<<8 | tag(x)
	}
	return t, nil
}

// decodeTLV decodes BER-TLV with bertlv. bertlv v0.1.0 slices with a
// negative bound on a long-form length that overflows int; that panic is
// turned into ErrTLV here, so that no card input panics the kernel.
func decodeTLV(b []byte) (out []bertlv.TLV, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: length out of range", ErrTLV)
		}
	}()
	out, err = bertlv.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTLV, err)
	}
	return out, nil
}

// encodeTLV encodes one primitive data object.
func encodeTLV(t tag, v []byte) []byte {
	b, err := bertlv.Encode([]bertlv.TLV{bertlv.NewTag(t.String(), v)})
	if err != nil {
		// Only a malformed tag fails, and every tag here is a constant.
		return nil
	}
	return b
}

// tlvObject is a decoded data object with its tag as an integer.
type tlvObject struct {
	tag      tag
	value    []byte      // primitive objects
	children []tlvObject // constructed objects
}

// parseTLV decodes b into objects, converting bertlv's hex tags.
func parseTLV(b []byte) ([]tlvObject, error) {
	raw, err := decodeTLV(b)
	if err != nil {
		return nil, err
	}
	return convert(raw)
}

func convert(raw []bertlv.TLV) ([]tlvObject, error) {
	out := make([]tlvObject, 0, len(raw))
	for _, r := range raw {
		t, err := parseTag(r.Tag)
		if err != nil {
			return nil, err
		}
		o := tlvObject{tag: t, value: r.Value}
		if t.constructed() {
			if o.children, err = convert(r.TLVs); err != nil {
				return nil, err
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// find returns the first object with tag t, searching depth first.
func find(objs []tlvObject, t tag) (tlvObject, bool) {
	for _, o := range objs {
		if o.tag == t {
			return o, true
		}
		if len(o.children) > 0 {
			if c, ok := find(o.children, t); ok {
				return c, true
			}
		}
	}
	return tlvObject{}, false
}

// single returns the only top-level object of b, which must have tag t
// and nothing after it (ErrFormat otherwise).
func single(b []byte, t tag, what string) (tlvObject, error) {
	objs, err := parseTLV(b)
	if err != nil {
		return tlvObject{}, fmt.Errorf("%w: %s: %w", ErrFormat, what, err)
	}
	if len(objs) != 1 || objs[0].tag != t {
		return tlvObject{}, fmt.Errorf("%w: %s: not one %v template", ErrFormat, what, t)
	}
	return objs[0], nil
}

// tlvHeader reads the tag and length of the data object at the start of b
// and returns the header length and the value length. bertlv decodes
// values but does not return the bytes of a constructed object as the
// card sent them, which offline data authentication needs: the record
// templates signed for SDA/DDA and the GENERATE AC response objects
// hashed for CDA must be taken byte for byte. Call it only on bytes
// decodeTLV accepted.
func tlvHeader(b []byte) (hdr, n int, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: empty", ErrTLV)
	}
	i := 1
	if b[0]&0x1F == 0x1F {
		for i < len(b) && b[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if i >= len(b) {
		return 0, 0, fmt.Errorf("%w: truncated header", ErrTLV)
	}
	l := int(b[i])
	i++
	if l&0x80 != 0 {
		k := l & 0x7F
		if k == 0 || k > 3 || i+k > len(b) {
			return 0, 0, fmt.Errorf("%w: length field", ErrTLV)
		}
		l = 0
		for j := 0; j < k; j++ {
			l = l<<8 | int(b[i+j])
		}
		i += k
	}
	if l > len(b)-i {
		return 0, 0, fmt.Errorf("%w: value longer than the data", ErrTLV)
	}
	return i, l, nil
}

// rawObjects splits the top level of b (already accepted by decodeTLV)
// into each object's bytes as received, skipping 00 padding between
// objects as bertlv does.
func rawObjects(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if b[0] == 0x00 {
			b = b[1:]
			continue
		}
		h, n, err := tlvHeader(b)
		if err != nil {
			return nil, err
		}
		out = append(out, b[:h+n])
		b = b[h+n:]
	}
	return out, nil
}

// trimPad drops the 00 bytes that may precede a data object.
func trimPad(b []byte) []byte {
	for len(b) > 0 && b[0] == 0x00 {
		b = b[1:]
	}
	return b
}
