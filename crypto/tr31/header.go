package tr31

import (
	"fmt"
	"strconv"
	"strings"
)

// Key block versions supported by this package.
const (
	VersionA byte = 'A' // TDES key variant binding (deprecated)
	VersionB byte = 'B' // TDES key derivation binding
	VersionC byte = 'C' // TDES key variant binding, clarified header values
	VersionD byte = 'D' // AES key derivation binding
)

// Key context values (position 14 of the header, X9.143).
const (
	ContextAny      byte = '0' // storage or exchange, determined by the KBPK
	ContextStorage  byte = '1' // storage context only
	ContextExchange byte = '2' // key exchange context only
)

// MaxLength is the largest key block the 4-digit length field can express.
const MaxLength = 9999

const fixedHeaderLen = 16

// OptBlock is one optional header block. ID is two alphanumeric characters;
// Data is the block's content as it appears in the key block (printable
// ASCII; hex for KS, IK, KC, KP).
type OptBlock struct {
	ID   string
	Data string
}

// Header is the clear part of a key block.
//
// Zero values are normalised when a block is written: an empty KeyVersion
// means "00" (no versioning) and a zero KeyContext means '0'. Blocks never
// contains the padding block "PB": it is added and removed by this package.
// An optional block "KC" or "KP" with empty Data is filled in by Wrap with
// the check value of the wrapped key or of the KBPK.
type Header struct {
	Version       byte   // 'A', 'B', 'C' or 'D'
	KeyUsage      string // e.g. "P0", "B0", "K0", "M3", "D0"
	Algorithm     byte   // 'A' AES, 'T' TDES, 'D' DES, 'H' HMAC, 'R' RSA, 'E' EC, 'S' DSA
	ModeOfUse     byte   // e.g. 'E', 'D', 'B', 'C', 'G', 'V', 'X', 'N'
	KeyVersion    string // two characters, "00" when unused, "cN" for a component
	Exportability byte   // 'E', 'N' or 'S'
	KeyContext    byte   // '0', '1' or '2'
	Blocks        []OptBlock
}

// Block returns the data of the optional block with the given ID.
func (h Header) Block(id string) (string, bool) {
	for _, b := range h.Blocks {
		if b.ID == id {
			return b.Data, true
		}
	}
	return "", false
}

// blockSize is the cipher block size of the version; macLen its MAC length
// in bytes.
func versionParams(v byte) (blockSize, macLen int, err error) {
	switch v {
	case VersionA, VersionC:
		return 8, 4, nil
	case VersionB:
		return 8, 8, nil
	case VersionD:
		return 16, 16, nil
	}
	return 0, 0, fmt.Errorf("%w: %q", ErrUnsupportedVersion, v)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool {
	return isDigit(c) || isUpper(c) || (c >= 'a' && c <= 'z')
}
func isHexUpper(c byte) bool  { return isDigit(c) || (c >= 'A' && c <= 'F') }
func isPrintable(c byte) bool { return c >= 0x20 && c <= 0x7E }

func allHexUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexUpper(s[i]) {
			return false
		}
	}
	return true
}

// validateFixed checks the fields of the fixed header after normalisation.
func (h Header) validateFixed() error {
	if _, _, err := versionParams(h.Version); err != nil {
		return err
	}
	if len(h.KeyUsage) != 2 || !(isDigit(h.KeyUsage[0]) || isUpper(h.KeyUsage[0])) ||
		!(isDigit(h.KeyUsage[1]) || isUpper(h.KeyUsage[1])) {
		return fmt.Errorf("%w: key usage %q", ErrHeader, h.KeyUsage)
	}
	if !isDigit(h.Algorithm) && !strings.ContainsRune("ADEHRST", rune(h.Algorithm)) {
		return fmt.Errorf("%w: algorithm %q", ErrHeader, h.Algorithm)
	}
	if !isDigit(h.ModeOfUse) && !strings.ContainsRune("BCDEGNSTVXY", rune(h.ModeOfUse)) {
		return fmt.Errorf("%w: mode of use %q", ErrHeader, h.ModeOfUse)
	}
	if len(h.KeyVersion) != 2 || !isAlnum(h.KeyVersion[0]) || !isAlnum(h.KeyVersion[1]) {
		return fmt.Errorf("%w: key version %q", ErrHeader, h.KeyVersion)
	}
	if !isDigit(h.Exportability) && !strings.ContainsRune("ENS", rune(h.Exportability)) {
		return fmt.Errorf("%w: exportability %q", ErrHeader, h.Exportability)
	}
	if h.KeyContext < '0' || h.KeyContext > '2' {
		return fmt.Errorf("%w: key context %q", ErrHeader, h.KeyContext)
	}
	return nil
}

func (h Header) normalised() Header {
	if h.KeyVersion == "" {
		h.KeyVersion = "00"
	}
	if h.KeyContext == 0 {
		h.KeyContext = ContextAny
	}
	return h
}

// validateBlockData checks the content of the optional blocks whose format
// this package knows; other IDs only need printable data.
func validateBlockData(id, data string) error {
	for i := 0; i < len(data); i++ {
		if !isPrintable(data[i]) {
			return fmt.Errorf("%w: %s data has a non-printable character", ErrOptBlock, id)
		}
	}
	switch id {
	case "KS": // initial key serial number (TDES DUKPT: 10 bytes; 8 tolerated)
		if (len(data) != 20 && len(data) != 16) || !allHexUpper(data) {
			return fmt.Errorf("%w: KS must be 16 or 20 hex digits", ErrOptBlock)
		}
	case "IK": // initial key ID (AES DUKPT): 8 bytes
		if len(data) != 16 || !allHexUpper(data) {
			return fmt.Errorf("%w: IK must be 16 hex digits", ErrOptBlock)
		}
	case "KC", "KP": // KCV algorithm + check value
		if len(data) < 4 || len(data)%2 != 0 || !allHexUpper(data) {
			return fmt.Errorf("%w: %s must be an even number of hex digits", ErrOptBlock, id)
		}
		switch data[:2] {
		case KCVLegacy:
			if len(data) > 2+6 {
				return fmt.Errorf("%w: %s legacy check value longer than 3 bytes", ErrOptBlock, id)
			}
		case KCVCMAC:
			if len(data) > 2+10 {
				return fmt.Errorf("%w: %s CMAC check value longer than 5 bytes", ErrOptBlock, id)
			}
		default:
			return fmt.Errorf("%w: %s unknown check value algorithm", ErrOptBlock, id)
		}
	case "TS", "TC": // time stamp / time of creation, ISO 8601 UTC
		if !validTimestamp(data) {
			return fmt.Errorf("%w: %s is not an ISO 8601 UTC time", ErrOptBlock, id)
		}
	}
	return nil
}

// validTimestamp accepts the ISO 8601 forms used in key blocks:
// YYYYMMDDhhmmss[.f+]Z (basic) and YYYY-MM-DDThh:mm:ss[.f+][Z] (extended).
func validTimestamp(s string) bool {
	digits := func(t string) bool {
		for i := 0; i < len(t); i++ {
			if !isDigit(t[i]) {
				return false
			}
		}
		return true
	}
	var date, rest string
	var needZ bool
	switch {
	case len(s) >= 15 && digits(s[:14]):
		date = s[:4] + s[4:6] + s[6:8] + s[8:10] + s[10:12] + s[12:14]
		rest = s[14:]
		needZ = true
	case len(s) >= 19 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':':
		date = s[0:4] + s[5:7] + s[8:10] + s[11:13] + s[14:16] + s[17:19]
		rest = s[19:]
	default:
		return false
	}
	if !digits(date) {
		return false
	}
	mo, _ := strconv.Atoi(date[4:6])
	d, _ := strconv.Atoi(date[6:8])
	hh, _ := strconv.Atoi(date[8:10])
	mm, _ := strconv.Atoi(date[10:12])
	ss, _ := strconv.Atoi(date[12:14])
	if mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 {
		return false
	}
	if strings.HasPrefix(rest, ".") {
		i := 1
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	if rest == "Z" {
		return true
	}
	return rest == "" && !needZ
}

// encodeBlock renders one optional block with its length field; the long
// form ("00", length-of-length "04", 4 hex digits) is used when the block is
// longer than 255 characters. The length-of-length counts the characters of
// the length that follows, as in the ANSI X9.143:2021 8.5 sample
// ("CT0004050000..."); some libraries count bytes of two characters instead
// ("0002" + 4 digits), which this package rejects as malformed.
func encodeBlock(sb *strings.Builder, b OptBlock) error {
	n := 4 + len(b.Data)
	if n <= 0xFF {
		fmt.Fprintf(sb, "%s%02X%s", b.ID, n, b.Data)
		return nil
	}
	n = 10 + len(b.Data)
	if n > MaxLength {
		return fmt.Errorf("%w: %s is too long", ErrLength, b.ID)
	}
	fmt.Fprintf(sb, "%s0004%04X%s", b.ID, n, b.Data)
	return nil
}

// render writes the header with the given length field, the optional
// blocks and, where needed, a padding block so that the optional blocks
// fill whole cipher blocks.
func (h Header) render(length int) (string, error) {
	bs, _, err := versionParams(h.Version)
	if err != nil {
		bs = 8
	}
	var ob strings.Builder
	for _, b := range h.Blocks {
		if err := encodeBlock(&ob, b); err != nil {
			return "", err
		}
	}
	count := len(h.Blocks)
	if rem := ob.Len() % bs; rem != 0 {
		pb := bs - rem
		if pb < 4 {
			pb += bs
		}
		fmt.Fprintf(&ob, "PB%02X%s", pb, strings.Repeat("0", pb-4))
		count++
	}
	if count > 99 {
		return "", fmt.Errorf("%w: %d optional blocks", ErrOptBlock, count)
	}
	var sb strings.Builder
	sb.Grow(fixedHeaderLen + ob.Len())
	sb.WriteByte(h.Version)
	fmt.Fprintf(&sb, "%04d", length)
	sb.WriteString(h.KeyUsage)
	sb.WriteByte(h.Algorithm)
	sb.WriteByte(h.ModeOfUse)
	sb.WriteString(h.KeyVersion)
	sb.WriteByte(h.Exportability)
	fmt.Fprintf(&sb, "%02d", count)
	sb.WriteByte(h.KeyContext)
	sb.WriteByte('0')
	sb.WriteString(ob.String())
	return sb.String(), nil
}

// String renders the header as it appears at the start of a key block: the
// 16-character fixed header followed by the optional blocks and, where
// needed, a padding block. The length field reads "0000": the real length
// is known only once a key is wrapped.
func (h Header) String() string {
	h = h.normalised()
	s, err := h.render(0)
	if err != nil {
		return fmt.Sprintf("%c0000%s%c%c%s%c%02d%c0", h.Version, h.KeyUsage, h.Algorithm,
			h.ModeOfUse, h.KeyVersion, h.Exportability, len(h.Blocks), h.KeyContext)
	}
	return s
}

// ParseHeader parses the header at the start of s, which may be a whole key
// block or only its header (as String returns it). The length field is
// checked to be four digits but not compared with len(s); Unwrap does that.
// The padding block is validated and dropped from Blocks.
func ParseHeader(s string) (Header, error) {
	h, _, err := parseHeader(s)
	return h, err
}

func parseHeader(s string) (Header, int, error) {
	var h Header
	if len(s) < fixedHeaderLen {
		return h, 0, fmt.Errorf("%w: %d characters, header needs 16", ErrFormat, len(s))
	}
	for i := 0; i < fixedHeaderLen; i++ {
		if !isPrintable(s[i]) {
			return h, 0, fmt.Errorf("%w: non-printable character in header", ErrFormat)
		}
	}
	h.Version = s[0]
	bs, _, err := versionParams(h.Version)
	if err != nil {
		return h, 0, err
	}
	for i := 1; i < 5; i++ {
		if !isDigit(s[i]) {
			return h, 0, fmt.Errorf("%w: length field %q", ErrLength, s[1:5])
		}
	}
	h.KeyUsage = s[5:7]
	h.Algorithm = s[7]
	h.ModeOfUse = s[8]
	h.KeyVersion = s[9:11]
	h.Exportability = s[11]
	if !isDigit(s[12]) || !isDigit(s[13]) {
		return h, 0, fmt.Errorf("%w: optional block count %q", ErrHeader, s[12:14])
	}
	count := int(s[12]-'0')*10 + int(s[13]-'0')
	h.KeyContext = s[14]
	if s[15] != '0' {
		return h, 0, fmt.Errorf("%w: reserved %q", ErrHeader, s[15])
	}
	if err := h.validateFixed(); err != nil {
		return h, 0, err
	}

	p := fixedHeaderLen
	seen := make(map[string]bool, count)
	for i := 0; i < count; i++ {
		if seen["PB"] {
			return h, 0, fmt.Errorf("%w: padding block is not the last", ErrOptBlock)
		}
		if len(s)-p < 4 {
			return h, 0, fmt.Errorf("%w: block %d truncated", ErrOptBlock, i+1)
		}
		id := s[p : p+2]
		if !isAlnum(id[0]) || !isAlnum(id[1]) {
			return h, 0, fmt.Errorf("%w: block %d has an invalid ID", ErrOptBlock, i+1)
		}
		if seen[id] {
			return h, 0, fmt.Errorf("%w: duplicate %s", ErrOptBlock, id)
		}
		seen[id] = true
		n, ok := parseHex(s[p+2 : p+4])
		if !ok {
			return h, 0, fmt.Errorf("%w: %s length", ErrOptBlock, id)
		}
		hdr := 4
		if n == 0 {
			// Long form: "00", two hex digits giving the number of
			// characters of the length, then the length itself.
			if len(s)-p < 6 {
				return h, 0, fmt.Errorf("%w: %s truncated", ErrOptBlock, id)
			}
			ll, ok := parseHex(s[p+4 : p+6])
			if !ok || ll == 0 || ll > 4 || len(s)-p < 6+ll {
				return h, 0, fmt.Errorf("%w: %s length of length", ErrOptBlock, id)
			}
			n, ok = parseHex(s[p+6 : p+6+ll])
			if !ok {
				return h, 0, fmt.Errorf("%w: %s length", ErrOptBlock, id)
			}
			hdr = 6 + ll
		}
		if n < hdr || n > len(s)-p {
			return h, 0, fmt.Errorf("%w: %s length %d", ErrOptBlock, id, n)
		}
		data := s[p+hdr : p+n]
		if err := validateBlockData(id, data); err != nil {
			return h, 0, err
		}
		if id != "PB" {
			h.Blocks = append(h.Blocks, OptBlock{ID: id, Data: data})
		}
		p += n
	}
	if (p-fixedHeaderLen)%bs != 0 {
		return h, 0, fmt.Errorf("%w: optional blocks do not fill whole cipher blocks", ErrOptBlock)
	}
	return h, p, nil
}

// parseHex decodes 1 to 4 upper-case hex digits.
func parseHex(s string) (int, bool) {
	if len(s) == 0 || len(s) > 4 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isDigit(c):
			v = v<<4 | int(c-'0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
