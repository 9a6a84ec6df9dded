package icc

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/moov-io/bertlv"
)

// tlv encodes one primitive or constructed data object (value already
// encoded). Tags are upper-case hex as bertlv spells them.
func tlv(tag string, value []byte) []byte {
	b, err := bertlv.Encode([]bertlv.TLV{bertlv.NewTag(tag, value)})
	if err != nil {
		// Only the package's own constant tags reach here.
		return nil
	}
	return b
}

// DOLEntry is one element of a data object list (PDOL, CDOL1, CDOL2,
// DDOL): a tag and the length of its value in the concatenation.
type DOLEntry struct {
	Tag string // upper-case hex
	Len int
}

// ParseDOL reads a data object list: tags (one to three bytes, BER-TLV
// tag rules) each followed by a one-byte length.
func ParseDOL(dol []byte) ([]DOLEntry, error) {
	var out []DOLEntry
	for i := 0; i < len(dol); {
		start := i
		if dol[i]&0x1F == 0x1F {
			i++
			for i < len(dol) && dol[i]&0x80 != 0 {
				i++
			}
		}
		i++
		if i > len(dol) || i-start > 3 {
			return nil, fmt.Errorf("%w: data object list tag truncated or too long", ErrProfile)
		}
		if i >= len(dol) {
			return nil, fmt.Errorf("%w: data object list entry without a length", ErrProfile)
		}
		out = append(out, DOLEntry{Tag: strings.ToUpper(hex.EncodeToString(dol[start:i])), Len: int(dol[i])})
		i++
	}
	return out, nil
}

// DOL builds a data object list from tag/length pairs, e.g.
// DOL("9F02", 6, "9F37", 4).
func DOL(pairs ...any) []byte {
	var out []byte
	for i := 0; i+1 < len(pairs); i += 2 {
		t, _ := pairs[i].(string)
		n, _ := pairs[i+1].(int)
		tb, err := hex.DecodeString(t)
		if err != nil {
			continue
		}
		out = append(out, tb...)
		out = append(out, byte(n))
	}
	return out
}

// dolLen is the total length of the values a DOL asks for.
func dolLen(entries []DOLEntry) int {
	n := 0
	for _, e := range entries {
		n += e.Len
	}
	return n
}

// SplitDOL cuts the concatenated values of a DOL into a map by tag. The
// values must be exactly as long as the DOL asks (false otherwise).
func SplitDOL(entries []DOLEntry, values []byte) (map[string][]byte, bool) {
	if len(values) != dolLen(entries) {
		return nil, false
	}
	m := make(map[string][]byte, len(entries))
	off := 0
	for _, e := range entries {
		m[e.Tag] = values[off : off+e.Len]
		off += e.Len
	}
	return m, true
}
