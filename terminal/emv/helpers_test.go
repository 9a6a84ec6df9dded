package emv

import (
	"bytes"
	"encoding/hex"
	"strings"

	"github.com/moov-io/bertlv"
)

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// tlv encodes a primitive object (hex tag).
func tlv(t string, v []byte) []byte {
	b, err := bertlv.Encode([]bertlv.TLV{bertlv.NewTag(t, v)})
	if err != nil {
		panic(err)
	}
	return b
}

// tpl wraps objects in a constructed template.
func tpl(t string, parts ...[]byte) []byte {
	v := bytes.Join(parts, nil)
	tb := h(t)
	var l []byte
	switch {
	case len(v) < 0x80:
		l = []byte{byte(len(v))}
	case len(v) < 0x100:
		l = []byte{0x81, byte(len(v))}
	default:
		l = []byte{0x82, byte(len(v) >> 8), byte(len(v))}
	}
	return append(append(tb, l...), v...)
}
