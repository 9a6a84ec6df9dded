package host

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/moov-io/bertlv"
)

// ICC data: DE55 in both dialects, BER-TLV (EMV book 3 annex B).
//
// Requests (0200, and the cup 0400 when the terminal includes it) carry
// the card's and the terminal's data objects of the online authorisation
// as the kernel collected them (an advice, 0220, those of the offline
// approval: the TC in 9F26): the ARQC (9F26), its cryptogram
// information data (9F27), the issuer application data (9F10), the
// unpredictable number (9F37), the ATC (9F36), the TVR (95), the
// transaction date (9A) and type (9C), the amounts (9F02, 9F03), the
// currency (5F2A) and country (9F1A) codes, the AIP (82) and the PAN
// sequence number (5F34). The PAN and the track travel only encrypted (the
// track 2 equivalent data, tag 57, goes in the encrypted DE62 like a
// swiped track), so DE55 never holds a data object of clear card data: the
// tags of ClearCardTags are refused on both sides (ErrInvalidRequest when
// encoding, ErrMalformed when decoding).
//
// The 0210 carries the issuer's answer for the card (ParseIssuerData):
// the issuer authentication data (91) and the issuer script templates (71,
// to run before the second GENERATE AC, 72 after it). The authorisation
// response code the card is given (8A) is DE39, two ASCII characters
// (Result.ARC), in both dialects: the host does not repeat it in DE55.
//
// Reading is strict: every length in its shortest form (short form below
// 128, then 81 xx, then 82 xxxx), no 00 or FF padding between objects,
// nothing after the last one, constructed objects (bit 6 of the first tag
// byte) read recursively, at most MaxICC bytes. Such data packs back to the
// same bytes, so a decoded message still has one encoding.

// ClearCardTags are the EMV data objects DE55 must never carry, with what
// they hold: they are card data that travels only encrypted, or not at all.
var ClearCardTags = map[string]string{
	"56":   "track 1 data",
	"57":   "track 2 equivalent data",
	"5A":   "PAN",
	"5F20": "cardholder name",
	"99":   "transaction PIN data",
	"9F1F": "track 1 discretionary data",
	"9F20": "track 2 discretionary data",
	"9F6B": "track 2 data",
}

// Issuer response tags.
const (
	TagIssuerAuthData = "91"   // issuer authentication data: ARPC and ARC or CSU
	TagScriptBefore   = "71"   // issuer script template 1 (before the second GENERATE AC)
	TagScriptAfter    = "72"   // issuer script template 2 (after the second GENERATE AC)
	TagScriptID       = "9F18" // issuer script identifier, 4 bytes
	TagScriptCommand  = "86"   // issuer script command: one C-APDU
)

// maxICCDepth bounds the nesting of constructed objects (a script template
// inside DE55 is depth 2).
const maxICCDepth = 4

// ParseICC reads DE55 strictly (see above) into its data objects. Empty
// input is no data. Errors match ErrMalformed and name at most a tag.
func ParseICC(b []byte) ([]bertlv.TLV, error) {
	tlvs, err := parseICC(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return tlvs, nil
}

// parseICC is ParseICC with errors of no class.
func parseICC(b []byte) ([]bertlv.TLV, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) > MaxICC {
		return nil, fmt.Errorf("ICC data longer than %d bytes", MaxICC)
	}
	// The library's decoder trusts long-form lengths (nine length bytes
	// overflow into a negative length) and skips 00 bytes: the strict scan
	// goes first.
	if err := scanTLV(b, 0); err != nil {
		return nil, fmt.Errorf("ICC data: %w", err)
	}
	tlvs, err := bertlv.Decode(b)
	if err != nil {
		return nil, safe(err, "ICC data does not decode")
	}
	again, err := bertlv.Encode(tlvs)
	if err != nil || !bytes.Equal(again, b) {
		return nil, errors.New("ICC data not in canonical encoding")
	}
	return tlvs, nil
}

// scanTLV walks b as a sequence of BER-TLV objects under the strict rules.
func scanTLV(b []byte, depth int) error {
	if depth > maxICCDepth {
		return fmt.Errorf("objects nested deeper than %d", maxICCDepth)
	}
	for len(b) > 0 {
		if b[0] == 0x00 || b[0] == 0xFF {
			return fmt.Errorf("padding byte %02X between objects", b[0])
		}
		n := 1
		if b[0]&0x1F == 0x1F {
			for {
				if n >= len(b) {
					return fmt.Errorf("tag incomplete")
				}
				if n == 1 && b[n] == 0x80 {
					return fmt.Errorf("tag not in its shortest form")
				}
				n++
				if b[n-1]&0x80 == 0 {
					break
				}
				if n >= 3 {
					return fmt.Errorf("tag longer than 3 bytes")
				}
			}
		}
		tag := b[:n]
		b = b[n:]
		if len(b) == 0 {
			return fmt.Errorf("tag %X without a length", tag)
		}
		var l, ll int
		switch {
		case b[0] < 0x80:
			l, ll = int(b[0]), 1
		case b[0] == 0x81 && len(b) >= 2 && b[1] >= 0x80:
			l, ll = int(b[1]), 2
		case b[0] == 0x82 && len(b) >= 3 && b[1] != 0:
			l, ll = int(b[1])<<8|int(b[2]), 3
		default:
			return fmt.Errorf("length of tag %X invalid or not in its shortest form", tag)
		}
		b = b[ll:]
		if l > len(b) {
			return fmt.Errorf("value of tag %X runs past the end", tag)
		}
		if tag[0]&0x20 != 0 {
			if err := scanTLV(b[:l], depth+1); err != nil {
				return err
			}
		}
		b = b[l:]
	}
	return nil
}

// constructed tells by its first byte whether a tag (as bertlv spells it,
// upper-case hex) is constructed.
func constructed(tag string) bool {
	b, err := hex.DecodeString(tag)
	return err == nil && len(b) > 0 && b[0]&0x20 != 0
}

// ICCValues returns the primitive data objects at the top level of DE55
// by tag ("9F26"); constructed objects are left out. A tag present twice
// is ErrMalformed.
func ICCValues(tlvs []bertlv.TLV) (map[string][]byte, error) {
	out := make(map[string][]byte, len(tlvs))
	for _, t := range tlvs {
		if _, dup := out[t.Tag]; dup {
			return nil, fmt.Errorf("%w: ICC data has tag %s twice", ErrMalformed, t.Tag)
		}
		if constructed(t.Tag) {
			continue
		}
		out[t.Tag] = t.Value
	}
	return out, nil
}

// checkRequestICC reads the DE55 of a request: well formed, and without a
// data object of clear card data. Its errors carry no class.
func checkRequestICC(b []byte) error {
	tlvs, err := parseICC(b)
	if err != nil {
		return err
	}
	return refuseClearCardData(tlvs)
}

func refuseClearCardData(tlvs []bertlv.TLV) error {
	for _, t := range tlvs {
		if what, bad := ClearCardTags[t.Tag]; bad {
			return fmt.Errorf("ICC data carries tag %s (%s), which travels only encrypted", t.Tag, what)
		}
		if err := refuseClearCardData(t.TLVs); err != nil {
			return err
		}
	}
	return nil
}

// IssuerData is DE55 of a purchase response: what the kernel hands the
// card after an online authorisation.
type IssuerData struct {
	// AuthData is the issuer authentication data (tag 91), 8 to 16
	// bytes: the 8-byte ARPC then the 2-byte ARC (ARPC method 1), or the
	// 4-byte ARPC, the 4-byte card status update and up to 8 bytes of
	// proprietary authentication data (method 2). Nil when absent.
	AuthData []byte
	// Scripts are the issuer script templates in the order received.
	Scripts []Script
}

// Script is one issuer script template.
type Script struct {
	// After is false for template 71 (run before the second GENERATE AC)
	// and true for template 72 (after it).
	After bool
	// ID is the issuer script identifier (9F18, 4 bytes); nil when absent.
	ID []byte
	// Commands are the script's commands (86), each a whole C-APDU for
	// the card, in order.
	Commands [][]byte
}

// Tag is the template's tag, "71" or "72".
func (s Script) Tag() string {
	if s.After {
		return TagScriptAfter
	}
	return TagScriptBefore
}

// ParseIssuerData reads the DE55 of a response. Besides 91, 71 and 72 it
// tolerates other data objects (it ignores them); 91 must be 8 to 16 bytes
// and appear at most once, a script template may hold only 9F18 (4 bytes,
// at most once, first) and 86 (4 to 261 bytes) and must hold a command.
// Errors match ErrMalformed.
func ParseIssuerData(b []byte) (IssuerData, error) {
	d, err := parseIssuerData(b)
	if err != nil {
		return IssuerData{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return d, nil
}

// parseIssuerData is ParseIssuerData with errors of no class.
func parseIssuerData(b []byte) (IssuerData, error) {
	var d IssuerData
	tlvs, err := parseICC(b)
	if err != nil {
		return d, err
	}
	for _, t := range tlvs {
		switch t.Tag {
		case TagIssuerAuthData:
			if d.AuthData != nil {
				return IssuerData{}, errors.New("issuer authentication data twice")
			}
			if len(t.Value) < 8 || len(t.Value) > 16 {
				return IssuerData{}, fmt.Errorf("issuer authentication data of %d bytes", len(t.Value))
			}
			d.AuthData = bytes.Clone(t.Value)
		case TagScriptBefore, TagScriptAfter:
			s, err := parseScript(t)
			if err != nil {
				return IssuerData{}, err
			}
			d.Scripts = append(d.Scripts, s)
		}
	}
	return d, nil
}

func parseScript(t bertlv.TLV) (Script, error) {
	s := Script{After: t.Tag == TagScriptAfter}
	for i, c := range t.TLVs {
		switch c.Tag {
		case TagScriptID:
			if i != 0 || len(c.Value) != 4 {
				return Script{}, fmt.Errorf("script %s: identifier not first or not 4 bytes", t.Tag)
			}
			s.ID = bytes.Clone(c.Value)
		case TagScriptCommand:
			if len(c.Value) < 4 || len(c.Value) > 261 {
				return Script{}, fmt.Errorf("script %s: command of %d bytes", t.Tag, len(c.Value))
			}
			s.Commands = append(s.Commands, bytes.Clone(c.Value))
		default:
			return Script{}, fmt.Errorf("script %s holds tag %s", t.Tag, c.Tag)
		}
	}
	if len(s.Commands) == 0 {
		return Script{}, fmt.Errorf("script %s without a command", t.Tag)
	}
	return s, nil
}

// Encode packs d as DE55: 91 first, then the templates in order. Errors
// match ErrInvalidRequest; what it packs, ParseIssuerData reads back.
func (d IssuerData) Encode() ([]byte, error) {
	var tlvs []bertlv.TLV
	if d.AuthData != nil {
		tlvs = append(tlvs, bertlv.NewTag(TagIssuerAuthData, d.AuthData))
	}
	for _, s := range d.Scripts {
		var in []bertlv.TLV
		if s.ID != nil {
			in = append(in, bertlv.NewTag(TagScriptID, s.ID))
		}
		for _, c := range s.Commands {
			in = append(in, bertlv.NewTag(TagScriptCommand, c))
		}
		tlvs = append(tlvs, bertlv.NewComposite(s.Tag(), in...))
	}
	b, err := bertlv.Encode(tlvs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "issuer data does not encode"))
	}
	if _, err := parseIssuerData(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	return b, nil
}
