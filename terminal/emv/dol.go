package emv

import "fmt"

// dolEntry is one entry of a data object list: a tag and the length the
// card wants its value in.
type dolEntry struct {
	tag    tag
	length int
}

// parseDOL reads a data object list (PDOL, CDOL1, CDOL2, DDOL, TDOL): a
// sequence of BER tags, each followed by a one-byte length (book 3
// section 5.4). A DOL is not BER-TLV (no values follow the lengths), so
// bertlv cannot read it; only the tag and length coding is done here.
func parseDOL(b []byte) ([]dolEntry, error) {
	var out []dolEntry
	for i := 0; i < len(b); {
		start := i
		if b[i]&0x1F == 0x1F {
			i++
			for i < len(b) && b[i]&0x80 != 0 {
				i++
			}
		}
		i++
		if i > len(b) || i-start > 3 {
			return nil, fmt.Errorf("%w: tag at offset %d", ErrDOL, start)
		}
		var t tag
		for _, x := range b[start:i] {
			t = t<<8 | tag(x)
		}
		if i >= len(b) {
			return nil, fmt.Errorf("%w: tag %v has no length", ErrDOL, t)
		}
		if b[i]&0x80 != 0 {
			return nil, fmt.Errorf("%w: tag %v has a long-form length", ErrDOL, t)
		}
		out = append(out, dolEntry{tag: t, length: int(b[i])})
		i++
	}
	return out, nil
}

// buildDOL concatenates the values of the entries as book 3 section 5.4
// asks: a value of the right length as it is; a longer one truncated
// (numeric: its leftmost bytes, otherwise its rightmost); a shorter one
// padded (numeric: leading zeros, compressed numeric: trailing FF,
// otherwise trailing zeros); an unknown or absent object, or a constructed
// one, as zeros.
func buildDOL(entries []dolEntry, value func(tag) ([]byte, bool)) []byte {
	n := 0
	for _, e := range entries {
		n += e.length
	}
	out := make([]byte, 0, n)
	for _, e := range entries {
		v, ok := value(e.tag)
		if !ok || e.tag.constructed() {
			out = append(out, make([]byte, e.length)...)
			continue
		}
		f := dictionary[e.tag].format
		switch {
		case len(v) == e.length:
			out = append(out, v...)
		case len(v) > e.length && f == fmtN:
			out = append(out, v[len(v)-e.length:]...)
		case len(v) > e.length:
			out = append(out, v[:e.length]...)
		case f == fmtN:
			out = append(out, make([]byte, e.length-len(v))...)
			out = append(out, v...)
		default:
			out = append(out, v...)
			pad := byte(0)
			if f == fmtCN {
				pad = 0xFF
			}
			for i := len(v); i < e.length; i++ {
				out = append(out, pad)
			}
		}
	}
	return out
}

// has reports whether the DOL asks for t.
func dolHas(entries []dolEntry, t tag) bool {
	for _, e := range entries {
		if e.tag == t {
			return true
		}
	}
	return false
}
