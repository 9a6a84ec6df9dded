package paycode

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"posd/terminal/money"
)

// MaxMPM is the longest merchant-presented payload, in characters (the
// specification's limit).
const MaxMPM = 512

// Globally unique identifiers BuildMPM's callers may put in a merchant
// account information template. UnionPay's is its registered application
// provider identifier (RID); the others are reverse domain names of the
// platforms' own domains, a form the specification allows, chosen by
// posd for the simulator: the real values come from the acquirer's
// parameters.
const (
	GUIUnionPay = "A000000333"
	GUIWeChat   = "com.tenpay"
	GUIAlipay   = "com.alipay"
)

// Account is one merchant account information template (IDs 26 to 51):
// sub-ID 00 the platform's globally unique identifier, sub-ID 01 the
// merchant's id with that platform.
type Account struct {
	ID         string // "26".."51"; BuildMPM numbers them itself
	GUI        string
	MerchantID string
}

// Merchant is what BuildMPM needs of the merchant (from the terminal's
// parameters).
type Merchant struct {
	Name     string    // ID 59, 1-25 printable ASCII characters
	City     string    // ID 60, 1-15
	Country  string    // ID 58, ISO 3166-1 alpha-2 ("CN")
	MCC      string    // ID 52, 4 digits
	Terminal string    // ID 62 sub-ID 07, 0-25 (omitted when empty)
	Accounts []Account // one per accepted platform, 1 to 26
}

// Field is one ID/length/value data object of a merchant-presented
// payload; templates have Sub and their Value is the encoded Sub.
type Field struct {
	ID    string
	Value string
	Sub   []Field
}

// MPM is a parsed merchant-presented payload.
type MPM struct {
	Initiation string    // ID 01: "11" static, "12" dynamic, "" absent
	Accounts   []Account // templates 26-51, in order
	MCC        string    // 52
	Currency   string    // 53, ISO 4217 numeric
	Amount     string    // 54 as written ("23.72"), "" when absent
	Country    string    // 58
	Name       string    // 59
	City       string    // 60
	Bill       string    // 62 sub-ID 01
	Terminal   string    // 62 sub-ID 07
	CRC        string    // 63, as written
	Fields     []Field   // every field, in order
}

// Minor returns the amount in the currency's minor units (terminal/money
// knows the currency's exponent).
func (m MPM) Minor() (int64, error) {
	c, err := money.Lookup(m.Currency)
	if err != nil {
		return 0, err
	}
	return c.Parse(m.Amount)
}

// BuildMPM writes a dynamic (01 = "12") merchant-presented payload for
// one sale: 00 "01", 01 "12", the merchant account information templates
// 26, 27... in m.Accounts' order (sub-ID 00 the GUI, 01 the merchant
// id), 52 MCC, 53 the currency's numeric code, 54 the amount in major
// units with the currency's exponent ("12.34"; "1234" for JPY), 58, 59,
// 60, 62 additional data (01 bill number = ref, 07 terminal label), 63
// the CRC. currency is an ISO 4217 code terminal/money knows. Errors
// match ErrMerchant and name the field.
func BuildMPM(m Merchant, amount int64, currency string, ref string) (string, error) {
	s, err := buildMPM(m, amount, currency, ref)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMerchant, err)
	}
	return s, nil
}

func buildMPM(m Merchant, amount int64, currency, ref string) (string, error) {
	cur, err := money.Lookup(currency)
	if err != nil {
		return "", errors.New("unknown currency")
	}
	if amount <= 0 {
		return "", errors.New("amount not positive")
	}
	amt := cur.Format(amount)
	if len(amt) > 13 {
		return "", errors.New("amount longer than 13 characters")
	}
	checks := []struct {
		what     string
		v        string
		min, max int
	}{
		{"merchant name", m.Name, 1, 25}, {"merchant city", m.City, 1, 15},
		{"terminal label", m.Terminal, 0, 25}, {"reference", ref, 1, 25},
	}
	for _, c := range checks {
		if len(c.v) < c.min || len(c.v) > c.max || !printable([]byte(c.v)) {
			return "", fmt.Errorf("%s not %d-%d printable ASCII characters", c.what, c.min, c.max)
		}
	}
	if len(m.Country) != 2 || !upper(m.Country) {
		return "", errors.New("country not two upper-case letters")
	}
	if len(m.MCC) != 4 || !allDigitsN(m.MCC) {
		return "", errors.New("MCC not 4 digits")
	}
	if len(m.Accounts) == 0 || len(m.Accounts) > 26 {
		return "", errors.New("not 1 to 26 merchant accounts")
	}
	fields := []Field{{ID: "00", Value: "01"}, {ID: "01", Value: "12"}}
	for i, a := range m.Accounts {
		if a.GUI == "" || a.MerchantID == "" || !printable([]byte(a.GUI)) || !printable([]byte(a.MerchantID)) || len(a.GUI) > 32 {
			return "", fmt.Errorf("merchant account %d: GUI (1-32) or merchant id missing or not printable ASCII", i+1)
		}
		f := template(fmt.Sprintf("%02d", 26+i), Field{ID: "00", Value: a.GUI}, Field{ID: "01", Value: a.MerchantID})
		if len(f.Value) > 99 {
			return "", fmt.Errorf("merchant account %d longer than 99 characters", i+1)
		}
		fields = append(fields, f)
	}
	add := []Field{template("62", Field{ID: "01", Value: ref})}
	if m.Terminal != "" {
		add[0] = template("62", Field{ID: "01", Value: ref}, Field{ID: "07", Value: m.Terminal})
	}
	fields = append(fields,
		Field{ID: "52", Value: m.MCC}, Field{ID: "53", Value: cur.Numeric}, Field{ID: "54", Value: amt},
		Field{ID: "58", Value: m.Country}, Field{ID: "59", Value: m.Name}, Field{ID: "60", Value: m.City})
	fields = append(fields, add...)
	body := encodeFields(fields) + "6304"
	out := body + fmt.Sprintf("%04X", crc16([]byte(body)))
	if utf8.RuneCountInString(out) > MaxMPM {
		return "", fmt.Errorf("payload longer than %d characters", MaxMPM)
	}
	return out, nil
}

func template(id string, sub ...Field) Field {
	return Field{ID: id, Value: encodeFields(sub), Sub: sub}
}

// encodeFields writes ID, length in characters (two digits), value.
func encodeFields(fs []Field) string {
	var sb strings.Builder
	for _, f := range fs {
		v := f.Value
		if f.Sub != nil {
			v = encodeFields(f.Sub)
		}
		fmt.Fprintf(&sb, "%s%02d%s", f.ID, utf8.RuneCountInString(v), v)
	}
	return sb.String()
}

// crc16 is CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no
// reflection, no final XOR (check value 29B1 for "123456789").
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc ^= uint16(x) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// ParseMPM reads a merchant-presented payload: ID/length/value framing
// (lengths in characters), 00 "01" first, 63 (4 hex digits) last and
// matching the CRC of everything before its value, no ID twice, 01 "11"
// or "12" when present, at least one merchant account (02 to 51; 26 to
// 51 are templates with a GUI in sub-ID 00), 52 four digits, 53 three
// digits, 54 (when present) a decimal amount of at most 13 characters, 58
// two characters, 59 1-25 and 60 1-15 characters; 62, 64 and 80-99 are
// read as templates. Errors match ErrMPM (and ErrCRC for a CRC
// mismatch) and name field IDs and positions, never values.
func ParseMPM(s string) (MPM, error) {
	m, err := parseMPM(s)
	if err != nil {
		return MPM{}, fmt.Errorf("%w: %w", ErrMPM, err)
	}
	return m, nil
}

func parseMPM(s string) (MPM, error) {
	var m MPM
	if !utf8.ValidString(s) {
		return m, errors.New("not UTF-8 text")
	}
	if n := utf8.RuneCountInString(s); n > MaxMPM {
		return m, fmt.Errorf("longer than %d characters", MaxMPM)
	}
	fields, err := parseFields(s)
	if err != nil {
		return m, err
	}
	if len(fields) < 2 || fields[0].ID != "00" || fields[0].Value != "01" {
		return m, errors.New("does not start with payload format indicator 00 \"01\"")
	}
	last := fields[len(fields)-1]
	if last.ID != "63" || len(last.Value) != 4 || !isHex(last.Value) {
		return m, errors.New("does not end with a CRC (63, 4 hex digits)")
	}
	want := fmt.Sprintf("%04X", crc16([]byte(s[:len(s)-4])))
	if !strings.EqualFold(want, last.Value) {
		return m, ErrCRC
	}
	m.CRC, m.Fields = last.Value, fields
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f.ID] {
			return MPM{}, fmt.Errorf("field %s twice", f.ID)
		}
		seen[f.ID] = true
		id, _ := strconv.Atoi(f.ID)
		switch {
		case f.ID == "01":
			if f.Value != "11" && f.Value != "12" {
				return MPM{}, errors.New("point of initiation (01) not 11 or 12")
			}
			m.Initiation = f.Value
		case id >= 26 && id <= 51:
			a := Account{ID: f.ID}
			for _, sf := range f.Sub {
				switch sf.ID {
				case "00":
					a.GUI = sf.Value
				case "01":
					a.MerchantID = sf.Value
				}
			}
			if a.GUI == "" {
				return MPM{}, fmt.Errorf("merchant account template %s without a GUI (00)", f.ID)
			}
			m.Accounts = append(m.Accounts, a)
		case f.ID == "52":
			if len(f.Value) != 4 || !allDigitsN(f.Value) {
				return MPM{}, errors.New("MCC (52) not 4 digits")
			}
			m.MCC = f.Value
		case f.ID == "53":
			if len(f.Value) != 3 || !allDigitsN(f.Value) {
				return MPM{}, errors.New("currency (53) not 3 digits")
			}
			m.Currency = f.Value
		case f.ID == "54":
			if !validAmount(f.Value) {
				return MPM{}, errors.New("amount (54) not a decimal of 1-13 characters")
			}
			m.Amount = f.Value
		case f.ID == "58":
			if utf8.RuneCountInString(f.Value) != 2 {
				return MPM{}, errors.New("country (58) not 2 characters")
			}
			m.Country = f.Value
		case f.ID == "59":
			if n := utf8.RuneCountInString(f.Value); n < 1 || n > 25 {
				return MPM{}, errors.New("merchant name (59) not 1-25 characters")
			}
			m.Name = f.Value
		case f.ID == "60":
			if n := utf8.RuneCountInString(f.Value); n < 1 || n > 15 {
				return MPM{}, errors.New("merchant city (60) not 1-15 characters")
			}
			m.City = f.Value
		case f.ID == "62":
			for _, sf := range f.Sub {
				switch sf.ID {
				case "01":
					m.Bill = sf.Value
				case "07":
					m.Terminal = sf.Value
				}
			}
		}
	}
	hasAccount := false
	for id := 2; id <= 51; id++ {
		hasAccount = hasAccount || seen[fmt.Sprintf("%02d", id)]
	}
	for _, id := range []string{"52", "53", "58", "59", "60"} {
		if !seen[id] {
			return MPM{}, fmt.Errorf("mandatory field %s missing", id)
		}
	}
	if !hasAccount {
		return MPM{}, errors.New("no merchant account information (02-51)")
	}
	return m, nil
}

// isTemplate tells the IDs whose value is itself ID/length/value fields.
func isTemplate(id int) bool {
	return (id >= 26 && id <= 51) || id == 62 || id == 64 || id >= 80
}

// parseFields splits s into fields; templates' values are split again
// (one level).
func parseFields(s string) ([]Field, error) { return splitFields(s, true) }

func splitFields(s string, top bool) ([]Field, error) {
	var out []Field
	pos := 0
	for pos < len(s) {
		if len(s)-pos < 4 || !allDigitsN(s[pos:pos+4]) {
			return nil, fmt.Errorf("no ID and length at byte %d", pos)
		}
		id := s[pos : pos+2]
		n, _ := strconv.Atoi(s[pos+2 : pos+4])
		pos += 4
		start := pos
		for i := 0; i < n; i++ {
			if pos >= len(s) {
				return nil, fmt.Errorf("field %s runs past the end", id)
			}
			_, w := utf8.DecodeRuneInString(s[pos:])
			pos += w
		}
		if n == 0 {
			return nil, fmt.Errorf("field %s empty", id)
		}
		f := Field{ID: id, Value: s[start:pos]}
		idn, _ := strconv.Atoi(id)
		if top && isTemplate(idn) {
			sub, err := splitFields(f.Value, false)
			if err != nil {
				return nil, fmt.Errorf("template %s: %w", id, err)
			}
			f.Sub = sub
		}
		out = append(out, f)
	}
	return out, nil
}

func validAmount(v string) bool {
	if len(v) == 0 || len(v) > 13 {
		return false
	}
	whole, frac, dot := strings.Cut(v, ".")
	if whole == "" && frac == "" {
		return false
	}
	return (whole == "" || allDigitsN(whole)) && (!dot || frac == "" || allDigitsN(frac))
}

func allDigitsN(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func upper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
