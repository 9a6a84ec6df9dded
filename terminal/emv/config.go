package emv

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	cemv "posd/crypto/emv"
)

// Config is the kernel's parameters: the terminal's data, the AIDs it
// accepts with their risk parameters, and the CA public keys. LoadParams
// reads it from the parameter file (see the README); AddCAPKs adds keys
// from elsewhere (the simulated deck's CA).
type Config struct {
	Terminal TerminalParams
	AIDs     []AIDParams
	capks    *cemv.CAPKStore
}

// TerminalParams are the terminal's own data elements.
type TerminalParams struct {
	Type                   byte    // 9F35, e.g. 0x22 (attended, online with offline capability, merchant)
	Capabilities           [3]byte // 9F33
	AdditionalCapabilities [5]byte // 9F40
	Country                string  // 9F1A, ISO 3166 numeric, 3 digits
	DefaultCurrency        string  // ISO 4217 numeric of Txn.Currency ""
	// Currencies maps each accepted currency (ISO 4217 numeric) to its
	// exponent (5F36).
	Currencies       map[string]int
	IFDSerial        string // 9F1E, 8 characters
	TerminalID       string // 9F1C, 8 characters
	MerchantCategory string // 9F15, 4 digits
	MerchantID       string // 9F16, 15 characters
	MerchantName     string // 9F4E
	AcquirerID       string // 9F01, 6 to 11 digits
	// PSE: contact selection reads the payment system environment first.
	PSE bool
	// CardholderSelection: the terminal lets the cardholder choose among
	// applications and confirm one (book 1 section 12.4).
	CardholderSelection bool
}

// AIDParams are one accepted application's parameters.
type AIDParams struct {
	AID   []byte
	Label string
	// PartialSelection: the card's DF name may be longer than AID
	// (application selection indicator).
	PartialSelection bool
	// Contact and Contactless: the interfaces the AID is accepted on.
	Contact, Contactless bool
	// Kernel is the contactless kernel (2 M/Chip, 3 qVSDC, 7 qPBOC); 0
	// for contact-only AIDs.
	Kernel int
	// Priority orders AIDs of equal card priority (lower first).
	Priority   int
	AppVersion [2]byte // 9F09
	// Terminal action codes.
	TACDenial, TACOnline, TACDefault [5]byte
	// DefaultDDOL and DefaultTDOL are used when the card has none.
	DefaultDDOL, DefaultTDOL []byte
	// Random transaction selection percentages (0 to 99).
	TargetPercent, MaxTargetPercent int
	// TTQ is the base terminal transaction qualifiers (9F66) for kernels 3
	// and 7; the kernel sets the "online cryptogram required" and "CVM
	// required" bits per transaction.
	TTQ [4]byte
	// CVMCapRequired and CVMCapNotRequired replace byte 2 of the terminal
	// capabilities for kernel 2 above and below the CVM required limit.
	CVMCapRequired, CVMCapNotRequired byte
	// ZeroAmountAllowed: a contactless zero amount goes online (else the
	// AID is not allowed for it).
	ZeroAmountAllowed bool
	// Limits per currency (ISO 4217 numeric).
	Limits map[string]Limits
}

// Limits are amounts in minor units of their currency; NoLimit (-1) when
// absent.
type Limits struct {
	FloorLimit      int64 // 9F1B, contact
	RandomThreshold int64 // random selection threshold, contact
	// Contactless (Book A/B pre-processing).
	CLTransactionLimit      int64 // at or above: not allowed contactless
	CLTransactionLimitCDCVM int64 // kernel 2: for cards with on-device CVM
	CLFloorLimit            int64 // above: online cryptogram required
	CLCVMLimit              int64 // at or above: CVM required
}

// NoLimit marks a limit as absent.
const NoLimit int64 = -1

// AddCAPKs adds CA public keys (validated; a key with the RID and index of
// one already held replaces it).
func (c *Config) AddCAPKs(keys ...cemv.CAPK) error {
	if c.capks == nil {
		c.capks = cemv.NewCAPKStore()
	}
	for _, k := range keys {
		if err := c.capks.Add(k); err != nil {
			return fmt.Errorf("%w: %w", ErrParams, err)
		}
	}
	return nil
}

// CAPKs returns the CA public keys held.
func (c *Config) CAPKs() []cemv.CAPK {
	if c.capks == nil {
		return nil
	}
	return c.capks.All()
}

// clone copies the configuration for a kernel; the CA key store is shared
// (it is safe for concurrent use), so keys added later are seen.
func (c Config) clone() *Config {
	n := c
	n.Terminal.Currencies = make(map[string]int, len(c.Terminal.Currencies))
	for k, v := range c.Terminal.Currencies {
		n.Terminal.Currencies[k] = v
	}
	n.AIDs = make([]AIDParams, len(c.AIDs))
	for i, a := range c.AIDs {
		a.AID = bytes.Clone(a.AID)
		a.DefaultDDOL = bytes.Clone(a.DefaultDDOL)
		a.DefaultTDOL = bytes.Clone(a.DefaultTDOL)
		l := make(map[string]Limits, len(a.Limits))
		for k, v := range a.Limits {
			l[k] = v
		}
		a.Limits = l
		n.AIDs[i] = a
	}
	if n.capks == nil {
		n.capks = cemv.NewCAPKStore()
	}
	return &n
}

// limits returns the AID's limits in currency, and whether it has any.
func (a *AIDParams) limits(currency string) (Limits, bool) {
	l, ok := a.Limits[currency]
	if !ok {
		return Limits{FloorLimit: 0, RandomThreshold: NoLimit, CLTransactionLimit: NoLimit,
			CLTransactionLimitCDCVM: NoLimit, CLFloorLimit: NoLimit, CLCVMLimit: NoLimit}, false
	}
	return l, true
}

// The JSON of the parameter file.
type paramsFile struct {
	Terminal  terminalJSON    `json:"terminal"`
	AIDs      []aidJSON       `json:"aids"`
	CAPKs     json.RawMessage `json:"capks,omitempty"`
	CAPKFiles []string        `json:"capk_files,omitempty"`
	Comment   string          `json:"comment,omitempty"`
}

type terminalJSON struct {
	Type                   string         `json:"type"`
	Capabilities           string         `json:"capabilities"`
	AdditionalCapabilities string         `json:"additional_capabilities"`
	Country                string         `json:"country"`
	DefaultCurrency        string         `json:"default_currency"`
	Currencies             map[string]int `json:"currencies"`
	IFDSerial              string         `json:"ifd_serial,omitempty"`
	TerminalID             string         `json:"terminal_id,omitempty"`
	MerchantCategory       string         `json:"merchant_category,omitempty"`
	MerchantID             string         `json:"merchant_id,omitempty"`
	MerchantName           string         `json:"merchant_name,omitempty"`
	AcquirerID             string         `json:"acquirer_id,omitempty"`
	PSE                    *bool          `json:"pse,omitempty"`
	CardholderSelection    *bool          `json:"cardholder_selection,omitempty"`
}

type aidJSON struct {
	AID               string                `json:"aid"`
	Label             string                `json:"label,omitempty"`
	PartialSelection  bool                  `json:"partial_selection"`
	Interfaces        []string              `json:"interfaces"`
	Kernel            int                   `json:"kernel,omitempty"`
	Priority          int                   `json:"priority,omitempty"`
	AppVersion        string                `json:"app_version"`
	TACDenial         string                `json:"tac_denial"`
	TACOnline         string                `json:"tac_online"`
	TACDefault        string                `json:"tac_default"`
	DefaultDDOL       string                `json:"default_ddol,omitempty"`
	DefaultTDOL       string                `json:"default_tdol,omitempty"`
	RandomSelection   *randomJSON           `json:"random_selection,omitempty"`
	TTQ               string                `json:"ttq,omitempty"`
	CVMCapRequired    string                `json:"cvm_capability_cvm_required,omitempty"`
	CVMCapNotRequired string                `json:"cvm_capability_no_cvm_required,omitempty"`
	ZeroAmountAllowed bool                  `json:"zero_amount_allowed,omitempty"`
	Limits            map[string]limitsJSON `json:"limits"`
}

type randomJSON struct {
	TargetPercent    int `json:"target_percent"`
	MaxTargetPercent int `json:"max_target_percent"`
}

type limitsJSON struct {
	FloorLimit              *int64 `json:"floor_limit,omitempty"`
	RandomThreshold         *int64 `json:"random_threshold,omitempty"`
	CLTransactionLimit      *int64 `json:"contactless_transaction_limit,omitempty"`
	CLTransactionLimitCDCVM *int64 `json:"contactless_transaction_limit_cdcvm,omitempty"`
	CLFloorLimit            *int64 `json:"contactless_floor_limit,omitempty"`
	CLCVMLimit              *int64 `json:"contactless_cvm_limit,omitempty"`
}

// LoadParams reads a parameter file (JSON; see the README): terminal
// data, AIDs, and CA public keys given inline ("capks", in the shape of
// crypto/emv's CA key file). A file naming "capk_files" needs
// LoadParamsFile, which knows where to look for them. Unknown fields are
// an error; every value is checked.
func LoadParams(data []byte) (Config, error) {
	f, err := decodeParams(data)
	if err != nil {
		return Config{}, err
	}
	if len(f.CAPKFiles) > 0 {
		return Config{}, fmt.Errorf("%w: capk_files needs LoadParamsFile", ErrParams)
	}
	return f.config(nil)
}

// LoadParamsFile reads the parameter file at path and the CA key files it
// names, relative to its directory.
func LoadParamsFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrParams, err)
	}
	f, err := decodeParams(data)
	if err != nil {
		return Config{}, err
	}
	var files [][]byte
	for _, p := range f.CAPKFiles {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(path), p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return Config{}, fmt.Errorf("%w: capk_files: %w", ErrParams, err)
		}
		files = append(files, b)
	}
	return f.config(files)
}

func decodeParams(data []byte) (*paramsFile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f paramsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParams, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrParams)
	}
	return &f, nil
}

func (f *paramsFile) config(capkFiles [][]byte) (Config, error) {
	c := Config{capks: cemv.NewCAPKStore()}
	if err := f.Terminal.parse(&c.Terminal); err != nil {
		return Config{}, fmt.Errorf("%w: terminal: %v", ErrParams, err)
	}
	if len(f.AIDs) == 0 {
		return Config{}, fmt.Errorf("%w: no aids", ErrParams)
	}
	seen := map[string]bool{}
	for i, j := range f.AIDs {
		a, err := j.parse(&c.Terminal)
		if err != nil {
			return Config{}, fmt.Errorf("%w: aids[%d]: %v", ErrParams, i, err)
		}
		key := fmt.Sprintf("%X/%d", a.AID, a.Kernel)
		if seen[key] {
			return Config{}, fmt.Errorf("%w: aids[%d]: %X with kernel %d given twice", ErrParams, i, a.AID, a.Kernel)
		}
		seen[key] = true
		c.AIDs = append(c.AIDs, a)
	}
	if len(f.CAPKs) > 0 && string(f.CAPKs) != "null" {
		capkFiles = append([][]byte{[]byte(`{"capks":` + string(f.CAPKs) + `}`)}, capkFiles...)
	}
	for _, b := range capkFiles {
		keys, err := cemv.ParseCAPKFile(b)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %w", ErrParams, err)
		}
		if err := c.AddCAPKs(keys...); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

func (j *terminalJSON) parse(t *TerminalParams) error {
	b, err := hexLen("type", j.Type, 1)
	if err != nil {
		return err
	}
	t.Type = b[0]
	if !digits(j.Type) {
		return fmt.Errorf("type %q is not two digits", j.Type)
	}
	if b, err = hexLen("capabilities", j.Capabilities, 3); err != nil {
		return err
	}
	copy(t.Capabilities[:], b)
	if b, err = hexLen("additional_capabilities", j.AdditionalCapabilities, 5); err != nil {
		return err
	}
	copy(t.AdditionalCapabilities[:], b)
	if len(j.Country) != 3 || !digits(j.Country) {
		return fmt.Errorf("country %q is not 3 digits", j.Country)
	}
	t.Country = j.Country
	if len(j.Currencies) == 0 {
		return fmt.Errorf("no currencies")
	}
	t.Currencies = map[string]int{}
	for cur, exp := range j.Currencies {
		if len(cur) != 3 || !digits(cur) || exp < 0 || exp > 3 {
			return fmt.Errorf("currency %q exponent %d", cur, exp)
		}
		t.Currencies[cur] = exp
	}
	if _, ok := t.Currencies[j.DefaultCurrency]; !ok {
		return fmt.Errorf("default_currency %q is not in currencies", j.DefaultCurrency)
	}
	t.DefaultCurrency = j.DefaultCurrency
	for _, f := range []struct {
		name, v string
		max     int
		num     bool
	}{{"ifd_serial", j.IFDSerial, 8, false}, {"terminal_id", j.TerminalID, 8, false},
		{"merchant_category", j.MerchantCategory, 4, true}, {"merchant_id", j.MerchantID, 15, false},
		{"merchant_name", j.MerchantName, 40, false}, {"acquirer_id", j.AcquirerID, 11, true}} {
		if len(f.v) > f.max || (f.num && !digits(f.v)) || !printable(f.v) {
			return fmt.Errorf("%s %q: at most %d characters", f.name, f.v, f.max)
		}
	}
	t.IFDSerial, t.TerminalID, t.MerchantCategory = j.IFDSerial, j.TerminalID, j.MerchantCategory
	t.MerchantID, t.MerchantName, t.AcquirerID = j.MerchantID, j.MerchantName, j.AcquirerID
	t.PSE = j.PSE == nil || *j.PSE
	t.CardholderSelection = j.CardholderSelection == nil || *j.CardholderSelection
	return nil
}

func (j *aidJSON) parse(t *TerminalParams) (AIDParams, error) {
	var a AIDParams
	b, err := hex.DecodeString(j.AID)
	if err != nil || len(b) < 5 || len(b) > 16 {
		return a, fmt.Errorf("aid %q is not 5 to 16 bytes of hex", j.AID)
	}
	a.AID = b
	a.Label = j.Label
	a.PartialSelection = j.PartialSelection
	if len(j.Interfaces) == 0 {
		return a, fmt.Errorf("aid %s: no interfaces", j.AID)
	}
	for _, i := range j.Interfaces {
		switch i {
		case "contact":
			a.Contact = true
		case "contactless":
			a.Contactless = true
		default:
			return a, fmt.Errorf("aid %s: interface %q (contact or contactless)", j.AID, i)
		}
	}
	a.Kernel = j.Kernel
	if a.Contactless && !slices.Contains([]int{2, 3, 7}, a.Kernel) {
		return a, fmt.Errorf("aid %s: contactless kernel %d (this kernel runs 2, 3 and 7)", j.AID, a.Kernel)
	}
	a.Priority = j.Priority
	if b, err = hexLen("app_version", j.AppVersion, 2); err != nil {
		return a, err
	}
	copy(a.AppVersion[:], b)
	for _, f := range []struct {
		name, v string
		dst     *[5]byte
	}{{"tac_denial", j.TACDenial, &a.TACDenial}, {"tac_online", j.TACOnline, &a.TACOnline}, {"tac_default", j.TACDefault, &a.TACDefault}} {
		if b, err = hexLen(f.name, f.v, 5); err != nil {
			return a, err
		}
		copy(f.dst[:], b)
	}
	for _, f := range []struct {
		name, v string
		dst     *[]byte
	}{{"default_ddol", j.DefaultDDOL, &a.DefaultDDOL}, {"default_tdol", j.DefaultTDOL, &a.DefaultTDOL}} {
		if f.v == "" {
			continue
		}
		b, err := hex.DecodeString(f.v)
		if err != nil {
			return a, fmt.Errorf("%s is not hex", f.name)
		}
		if _, err := parseDOL(b); err != nil {
			return a, fmt.Errorf("%s: %v", f.name, err)
		}
		*f.dst = b
	}
	if r := j.RandomSelection; r != nil {
		if r.TargetPercent < 0 || r.TargetPercent > 99 || r.MaxTargetPercent < r.TargetPercent || r.MaxTargetPercent > 99 {
			return a, fmt.Errorf("random_selection: 0 <= target_percent <= max_target_percent <= 99")
		}
		a.TargetPercent, a.MaxTargetPercent = r.TargetPercent, r.MaxTargetPercent
	}
	if a.Kernel == 3 || a.Kernel == 7 {
		if b, err = hexLen("ttq", j.TTQ, 4); err != nil {
			return a, err
		}
		copy(a.TTQ[:], b)
	} else if j.TTQ != "" {
		return a, fmt.Errorf("ttq is for kernels 3 and 7")
	}
	a.CVMCapRequired, a.CVMCapNotRequired = t.Capabilities[1], t.Capabilities[1]
	if j.CVMCapRequired != "" {
		if b, err = hexLen("cvm_capability_cvm_required", j.CVMCapRequired, 1); err != nil {
			return a, err
		}
		a.CVMCapRequired = b[0]
	}
	if j.CVMCapNotRequired != "" {
		if b, err = hexLen("cvm_capability_no_cvm_required", j.CVMCapNotRequired, 1); err != nil {
			return a, err
		}
		a.CVMCapNotRequired = b[0]
	}
	a.ZeroAmountAllowed = j.ZeroAmountAllowed
	a.Limits = map[string]Limits{}
	for cur, l := range j.Limits {
		if _, ok := t.Currencies[cur]; !ok {
			return a, fmt.Errorf("limits: currency %q is not in the terminal's currencies", cur)
		}
		get := func(name string, p *int64, def int64) (int64, error) {
			if p == nil {
				return def, nil
			}
			if *p < 0 || *p > 999999999999 {
				return 0, fmt.Errorf("limits %s: %s out of range", cur, name)
			}
			return *p, nil
		}
		var x Limits
		var err error
		if x.FloorLimit, err = get("floor_limit", l.FloorLimit, 0); err != nil {
			return a, err
		}
		if x.RandomThreshold, err = get("random_threshold", l.RandomThreshold, NoLimit); err != nil {
			return a, err
		}
		if x.CLTransactionLimit, err = get("contactless_transaction_limit", l.CLTransactionLimit, NoLimit); err != nil {
			return a, err
		}
		if x.CLTransactionLimitCDCVM, err = get("contactless_transaction_limit_cdcvm", l.CLTransactionLimitCDCVM, x.CLTransactionLimit); err != nil {
			return a, err
		}
		if x.CLFloorLimit, err = get("contactless_floor_limit", l.CLFloorLimit, NoLimit); err != nil {
			return a, err
		}
		if x.CLCVMLimit, err = get("contactless_cvm_limit", l.CLCVMLimit, NoLimit); err != nil {
			return a, err
		}
		a.Limits[cur] = x
	}
	return a, nil
}

func hexLen(name, s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("%s %q is not %d bytes of hex", name, s, n)
	}
	return b, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

//go:embed params/sim.json
var simParams []byte

// SimParams returns the parameter file of the simulated board
// (terminal/emv/params/sim.json): TEST values, the published EMV test CA
// keys inline. The deck's own test CA keys are added with AddCAPKs.
func SimParams() []byte { return bytes.Clone(simParams) }
