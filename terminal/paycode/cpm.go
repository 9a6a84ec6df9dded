package paycode

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moov-io/bertlv"

	"posd/terminal/redact"
)

// MaxCPM is the longest base64 consumer-presented payload ParseCPM reads.
const MaxCPM = 1536

// Tags of the EMV QRCPS consumer-presented mode (templates) and the
// data objects this package checks.
const (
	tagPFI          = "85" // payload format indicator, "CPV01"
	tagAppTemplate  = "61" // application template
	tagCommon       = "62" // common data template
	tagAppSpecific  = "63" // application specific transparent template (in 61)
	tagCommonTransp = "64" // common data transparent template (in 62)
	tagAID          = "4F"
	tagLabel        = "50"
	tagTrack2       = "57"
	tagPAN          = "5A"
)

// sensitive are the data objects that never appear in clear in a
// String, a JSON encoding or an error (the same set as
// host.ClearCardTags, plus the expiry date and the extended name, which
// the kernel's data dictionary marks sensitive).
var sensitive = map[string]bool{
	"56": true, "57": true, "5A": true, "5F20": true, "5F24": true,
	"99": true, "9F0B": true, "9F1F": true, "9F20": true, "9F6B": true,
}

// lengths are the allowed value lengths in bytes of the data objects
// this package checks (EMV book 3 annex A); others are taken as sent.
var lengths = map[string][2]int{
	"4F": {5, 16}, "50": {1, 16}, "57": {8, 19}, "5A": {6, 10},
	"5F20": {2, 26}, "5F24": {3, 3}, "5F25": {3, 3}, "5F28": {2, 2},
	"5F2A": {2, 2}, "5F2D": {2, 8}, "5F34": {1, 1}, "82": {2, 2},
	"9F02": {6, 6}, "9F03": {6, 6}, "9F08": {2, 2}, "9F10": {1, 32},
	"9F1A": {2, 2}, "9F26": {8, 8}, "9F27": {1, 1}, "9F36": {2, 2},
	"9F37": {4, 4},
}

// iccTags are the data objects ICC copies into DE55, in this order: the
// cryptogram and what the issuer needs to check it. No card data.
var iccTags = []string{
	"9F26", "9F27", "9F10", "9F37", "9F36", "95", "9A", "9C",
	"9F02", "9F03", "5F2A", "9F1A", "82", "5F34", "84", "9F33", "9F34", "9F35", "9F1E",
}

// maxDepth bounds template nesting: 61/62 hold 63/64, which hold
// primitive objects.
const maxDepth = 3

// CPM is a decoded EMV QRCPS consumer-presented payload. Its sensitive
// data objects (PAN, track 2, name, expiry) print and marshal masked;
// Track2 gives the clear track 2 for the online request. Wipe it when
// the request has gone.
type CPM struct {
	// Version is the payload format indicator, "CPV01".
	Version string
	// Apps are the application templates (61) in order; the first is
	// the one the terminal uses.
	Apps []App
	// Common are the data objects of the common data template (62) and
	// its transparent template (64).
	Common []TLV
}

// App is one application template (61) with its data objects, those of
// its transparent template (63) included.
type App struct {
	AID   string // 4F, upper-case hex
	Label string // 50
	TLVs  []TLV
}

// TLV is one primitive data object. Its String and JSON encoding mask a
// sensitive value.
type TLV struct {
	Tag   string // upper-case hex, as bertlv spells it
	Value []byte
}

// String prints the tag and its value, masked when sensitive.
func (t TLV) String() string { return t.Tag + "=" + t.safeValue() }

// MarshalJSON encodes {"tag":..,"value":..} with the value masked when
// sensitive.
func (t TLV) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Tag   string `json:"tag"`
		Value string `json:"value"`
	}{t.Tag, t.safeValue()})
}

func (t TLV) safeValue() string {
	switch {
	case t.Tag == tagPAN:
		return redact.MaskPAN(bcdDigits(t.Value))
	case t.Tag == tagTrack2:
		pan, _ := track2PAN(t.Value)
		return redact.MaskPAN(pan) + "D" + strings.Repeat("*", 4)
	case sensitive[t.Tag]:
		return fmt.Sprintf("<%d bytes>", len(t.Value))
	}
	return strings.ToUpper(hex.EncodeToString(t.Value))
}

// ParseCPM decodes a consumer-presented payload: base64 (standard, with
// or without padding; URL-safe accepted) of BER-TLV holding the payload
// format indicator 85 "CPV01" first, then one or more application
// templates 61, then at most one common data template 62, nothing else.
// Each 61 must carry an AID (4F); the payload must carry a PAN (5A) or a
// track 2 equivalent (57) with a PAN of 12 to 19 digits. Data objects
// listed in the package's length table are checked; a data object twice
// in one template is refused. Errors match ErrCPM and name at most a
// tag and a length.
func ParseCPM(b64 string) (*CPM, error) {
	c, err := parseCPM(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCPM, err)
	}
	return c, nil
}

type cpmError string

func (e cpmError) Error() string { return string(e) }

func errf(format string, args ...any) error { return cpmError(fmt.Sprintf(format, args...)) }

func parseCPM(s string) (*CPM, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errf("empty")
	}
	if len(s) > MaxCPM {
		return nil, errf("longer than %d characters", MaxCPM)
	}
	raw, err := decodeBase64(s)
	if err != nil {
		return nil, err
	}
	tlvs, err := decodeTLV(raw)
	if err != nil {
		return nil, err
	}
	if len(tlvs) == 0 || tlvs[0].Tag != tagPFI {
		return nil, errf("does not start with the payload format indicator (85)")
	}
	if string(tlvs[0].Value) != "CPV01" {
		return nil, errf("payload format indicator is not CPV01")
	}
	c := &CPM{Version: "CPV01"}
	seenCommon := false
	for _, t := range tlvs[1:] {
		switch t.Tag {
		case tagAppTemplate:
			if seenCommon {
				return nil, errf("application template (61) after the common data template (62)")
			}
			app, err := parseApp(t)
			if err != nil {
				return nil, err
			}
			c.Apps = append(c.Apps, app)
		case tagCommon:
			if seenCommon {
				return nil, errf("common data template (62) twice")
			}
			seenCommon = true
			if c.Common, err = flatten(t.TLVs, tagCommonTransp, "62", 1); err != nil {
				return nil, err
			}
		case tagPFI:
			return nil, errf("payload format indicator (85) twice")
		default:
			return nil, errf("unexpected tag %s at the top level", safeTag(t.Tag))
		}
	}
	if len(c.Apps) == 0 {
		return nil, errf("no application template (61)")
	}
	pan, ok := c.pan()
	if !ok {
		return nil, errf("neither a PAN (5A) nor a track 2 equivalent (57)")
	}
	if len(pan) < 12 || len(pan) > 19 {
		return nil, errf("PAN of %d digits", len(pan))
	}
	return c, nil
}

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errf("not base64")
}

// decodeTLV decodes BER-TLV with bertlv. bertlv v0.1.0 slices with a
// negative bound on a long-form length that overflows int (see
// terminal/emv): that panic becomes an error. Lengths of more than 2
// bytes are refused first, so it should not happen here.
func decodeTLV(b []byte) (out []bertlv.TLV, err error) {
	if err := scanLengths(b, 0); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, errf("length out of range")
		}
	}()
	out, err = bertlv.Decode(b)
	if err != nil {
		// bertlv's messages name tags and lengths, never values.
		return nil, errf("not BER-TLV: %v", err)
	}
	return out, nil
}

// scanLengths walks b as BER-TLV and refuses length fields of more than
// 2 bytes, tags of more than 3 bytes and nesting deeper than maxDepth,
// so that bertlv only sees data it decodes safely.
func scanLengths(b []byte, depth int) error {
	if depth > maxDepth {
		return errf("templates nested deeper than %d", maxDepth)
	}
	for len(b) > 0 {
		if b[0] == 0x00 {
			b = b[1:]
			continue
		}
		n := 1
		if b[0]&0x1F == 0x1F {
			for n < len(b) && b[n]&0x80 != 0 {
				n++
			}
			n++
			if n > 3 {
				return errf("tag longer than 3 bytes")
			}
		}
		if n >= len(b) {
			return errf("truncated tag or length")
		}
		cons := b[0]&0x20 != 0
		b = b[n:]
		l, ll := int(b[0]), 1
		switch {
		case l < 0x80:
		case l == 0x81 && len(b) >= 2:
			l, ll = int(b[1]), 2
		case l == 0x82 && len(b) >= 3:
			l, ll = int(b[1])<<8|int(b[2]), 3
		default:
			return errf("length field invalid")
		}
		b = b[ll:]
		if l > len(b) {
			return errf("value of %d bytes runs past the end", l)
		}
		if cons {
			if err := scanLengths(b[:l], depth+1); err != nil {
				return err
			}
		}
		b = b[l:]
	}
	return nil
}

func parseApp(t bertlv.TLV) (App, error) {
	objs, err := flatten(t.TLVs, tagAppSpecific, "61", 1)
	if err != nil {
		return App{}, err
	}
	var a App
	a.TLVs = objs
	for _, o := range objs {
		switch o.Tag {
		case tagAID:
			a.AID = strings.ToUpper(hex.EncodeToString(o.Value))
		case tagLabel:
			if !printable(o.Value) {
				return App{}, errf("application label (50) not printable")
			}
			a.Label = string(o.Value)
		}
	}
	if a.AID == "" {
		return App{}, errf("application template (61) without an AID (4F)")
	}
	return a, nil
}

// flatten returns the primitive objects of a template and of its one
// transparent template (tag transp), checking lengths and duplicates.
func flatten(in []bertlv.TLV, transp, where string, depth int) ([]TLV, error) {
	var out []TLV
	seen := map[string]bool{}
	for _, t := range in {
		if seen[t.Tag] {
			return nil, errf("tag %s twice in template %s", safeTag(t.Tag), where)
		}
		seen[t.Tag] = true
		if constructed(t.Tag) {
			if t.Tag != transp || depth > 1 {
				return nil, errf("unexpected template %s in template %s", safeTag(t.Tag), where)
			}
			inner, err := flatten(t.TLVs, "", transp, depth+1)
			if err != nil {
				return nil, err
			}
			for _, o := range inner {
				if seen[o.Tag] {
					return nil, errf("tag %s twice in template %s", safeTag(o.Tag), where)
				}
				seen[o.Tag] = true
			}
			out = append(out, inner...)
			continue
		}
		if r, ok := lengths[t.Tag]; ok && (len(t.Value) < r[0] || len(t.Value) > r[1]) {
			return nil, errf("tag %s of %d bytes", t.Tag, len(t.Value))
		}
		switch t.Tag {
		case tagPAN:
			if p := bcdDigits(t.Value); p == "" || len(p) < 12 {
				return nil, errf("PAN (5A) not 12 to 19 digits")
			}
		case tagTrack2:
			if _, ok := track2PAN(t.Value); !ok {
				return nil, errf("track 2 equivalent (57) malformed")
			}
		}
		out = append(out, TLV{Tag: t.Tag, Value: bytes.Clone(t.Value)})
	}
	return out, nil
}

// safeTag returns a tag as bertlv spelled it when it is short, else a
// fixed word: a tag is hex, but a long one is input echoed back.
func safeTag(tag string) string {
	if len(tag) <= 6 {
		return tag
	}
	return "(long tag)"
}

func constructed(tag string) bool {
	b, err := hex.DecodeString(tag)
	return err == nil && len(b) > 0 && b[0]&0x20 != 0
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}

// bcdDigits reads compressed numeric (digits, then F padding); "" when
// it is not.
func bcdDigits(b []byte) string {
	s := strings.ToUpper(hex.EncodeToString(b))
	s = strings.TrimRight(s, "F")
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return ""
		}
	}
	return s
}

// Track2Equivalent is a track 2 equivalent data object (57) in its
// parts, as the online request carries it. Its strings hold clear card
// data: never logged, dropped once sent.
type Track2Equivalent struct {
	Digits      string // PAN, D, expiry, service code, discretionary data; F padding dropped
	PAN         string
	Expiry      string // YYMM
	ServiceCode string
}

// ParseTrack2Equivalent splits a track 2 equivalent: digits, separator D,
// expiry YYMM and service code (7 digits at least), discretionary digits,
// F padding to a whole byte. False when b is not one.
func ParseTrack2Equivalent(b []byte) (Track2Equivalent, bool) {
	s := strings.ToUpper(hex.EncodeToString(b))
	s = strings.TrimSuffix(s, "F")
	pan, rest, ok := strings.Cut(s, "D")
	if !ok || len(pan) < 12 || len(pan) > 19 || len(rest) < 7 {
		return Track2Equivalent{}, false
	}
	for _, part := range []string{pan, rest} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return Track2Equivalent{}, false
			}
		}
	}
	return Track2Equivalent{Digits: s, PAN: pan, Expiry: rest[:4], ServiceCode: rest[4:7]}, true
}

// track2PAN returns the PAN of a track 2 equivalent.
func track2PAN(b []byte) (string, bool) {
	t, ok := ParseTrack2Equivalent(b)
	return t.PAN, ok
}

// get returns the value of tag from the first application template,
// else from the common data template.
func (c *CPM) get(tag string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	if len(c.Apps) > 0 {
		for _, t := range c.Apps[0].TLVs {
			if t.Tag == tag {
				return t.Value, true
			}
		}
	}
	for _, t := range c.Common {
		if t.Tag == tag {
			return t.Value, true
		}
	}
	return nil, false
}

// pan returns the clear PAN, from 5A or else from 57.
func (c *CPM) pan() (string, bool) {
	if v, ok := c.get(tagPAN); ok {
		return bcdDigits(v), true
	}
	if v, ok := c.get(tagTrack2); ok {
		return track2PAN(v)
	}
	return "", false
}

// MaskedPAN returns the PAN masked by redact.MaskPAN (first 6, last 4).
func (c *CPM) MaskedPAN() string {
	p, _ := c.pan()
	return redact.MaskPAN(p)
}

// Track2 returns a copy of the clear track 2 equivalent data (57, as
// sent) for the online request, or nil when the payload has none. The
// caller wipes it after use and never logs it.
func (c *CPM) Track2() []byte {
	v, ok := c.get(tagTrack2)
	if !ok {
		return nil
	}
	return bytes.Clone(v)
}

// ICC returns the payload's data objects for DE55, BER-TLV encoded, in a
// fixed order: the cryptogram and its context (see iccTags), never
// clear card data. Nil when the payload has none of them.
func (c *CPM) ICC() []byte {
	var tlvs []bertlv.TLV
	for _, tag := range iccTags {
		if v, ok := c.get(tag); ok {
			tlvs = append(tlvs, bertlv.NewTag(tag, v))
		}
	}
	if len(tlvs) == 0 {
		return nil
	}
	b, err := bertlv.Encode(tlvs)
	if err != nil {
		// Only a malformed tag fails, and every tag is a constant.
		return nil
	}
	return b
}

// Wipe zeroes every value the payload holds, then forgets them.
func (c *CPM) Wipe() {
	if c == nil {
		return
	}
	for _, a := range c.Apps {
		for _, t := range a.TLVs {
			clear(t.Value)
		}
	}
	for _, t := range c.Common {
		clear(t.Value)
	}
	*c = CPM{}
}

// String prints the payload with sensitive values masked.
func (c *CPM) String() string {
	if c == nil {
		return "<nil CPM>"
	}
	var sb strings.Builder
	sb.WriteString(c.Version)
	for _, a := range c.Apps {
		fmt.Fprintf(&sb, " 61%v", a.TLVs)
	}
	if len(c.Common) > 0 {
		fmt.Fprintf(&sb, " 62%v", c.Common)
	}
	return sb.String()
}

// GoString is String, so that %#v masks too.
func (c *CPM) GoString() string { return c.String() }

// String prints the template with sensitive values masked.
func (a App) String() string { return fmt.Sprintf("61%v", a.TLVs) }

// GoString is String, so that %#v masks too.
func (a App) GoString() string { return a.String() }

// GoString is String, so that %#v masks too.
func (t TLV) GoString() string { return t.String() }

// MarshalJSON encodes the payload with sensitive values masked and the
// masked PAN.
func (c *CPM) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		Version   string `json:"version"`
		MaskedPAN string `json:"masked_pan"`
		Apps      []App  `json:"apps"`
		Common    []TLV  `json:"common,omitempty"`
	}{c.Version, c.MaskedPAN(), c.Apps, c.Common})
}

// GoString masks Code's CPM too (%#v of a Code).
func (c Code) GoString() string {
	return fmt.Sprintf("paycode.Code{Kind:%q, Masked:%q, CPM:%v, Reason:%q}", c.Kind, c.Masked, c.CPM, c.Reason)
}
