package risk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"posd/terminal/money"
)

// EntryMode is how the customer presented the means of payment.
type EntryMode string

// Entry modes.
const (
	EntrySwipe  EntryMode = "swipe"  // magnetic stripe
	EntryInsert EntryMode = "insert" // contact chip
	EntryTap    EntryMode = "tap"    // contactless card or phone
	EntryQR     EntryMode = "qr"     // the customer's wallet payment code
	EntryFace   EntryMode = "face"   // face pay
)

// EntryModes lists every entry mode.
var EntryModes = []EntryMode{EntrySwipe, EntryInsert, EntryTap, EntryQR, EntryFace}

// Known reports whether m is one of EntryModes.
func (m EntryMode) Known() bool {
	switch m {
	case EntrySwipe, EntryInsert, EntryTap, EntryQR, EntryFace:
		return true
	}
	return false
}

// card reports whether m reads a card, whose PAN the transaction must
// then carry.
func (m EntryMode) card() bool { return m == EntrySwipe || m == EntryInsert || m == EntryTap }

// TxnType is the kind of transaction.
type TxnType string

// Transaction types.
const (
	TypeSale       TxnType = "sale"
	TypeRefund     TxnType = "refund"
	TypePreauth    TxnType = "preauth"
	TypeCompletion TxnType = "preauth_completion"
	TypeVoid       TxnType = "void"
	// TypeBalance is a balance inquiry: no amount, no money moves, always
	// an online PIN (it shows the account's balance).
	TypeBalance TxnType = "balance"
)

// TxnTypes lists every transaction type.
var TxnTypes = []TxnType{TypeSale, TypeRefund, TypePreauth, TypeCompletion, TypeVoid, TypeBalance}

// Known reports whether t is one of TxnTypes.
func (t TxnType) Known() bool {
	switch t {
	case TypeSale, TypeRefund, TypePreauth, TypeCompletion, TypeVoid, TypeBalance:
		return true
	}
	return false
}

// debit reports whether t takes money from the customer's account now or
// reserves it: the types velocity counts and tiered verification covers.
// A completion only finishes a preauthorization that was counted already.
func (t TxnType) debit() bool { return t == TypeSale || t == TypePreauth }

// CVM is the cardholder verification the terminal requires.
type CVM string

// Cardholder verification methods.
const (
	CVMNone            CVM = "none"             // no PIN, no signature
	CVMOnlinePIN       CVM = "online_pin"       // PIN on the PIN pad, sent enciphered to the host
	CVMOfflinePIN      CVM = "offline_pin"      // host unreachable: PIN on the PIN pad, verified by the chip (contact only)
	CVMPaymentPassword CVM = "payment_password" // face pay: the wallet's payment password on the PIN pad
)

// MaxMinor is the largest amount in minor units (12 digits, ISO 8583 DE4).
const MaxMinor int64 = 999_999_999_999

// maxWindow bounds velocity windows and offline ages.
const maxWindow = 366 * 24 * time.Hour

// maxCount bounds the count limits.
const maxCount = 1_000_000

// Duration is a time.Duration written as "24h", "30m" in the rules file.
type Duration time.Duration

// durationError is a duration that did not parse; ParseRules names its key.
type durationError struct{ raw string }

func (e *durationError) Error() string {
	return fmt.Sprintf("%s is not a duration (write it like \"24h\" or \"90m\")", e.raw)
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &durationError{raw: string(b)}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &durationError{raw: strconv.Quote(s)}
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Rules configure every check. All amounts are in minor units of Currency
// (fen for CNY). Limits are inclusive: an amount equal to a limit is within
// it. Caps (max_*) of 0 mean no cap; thresholds (no_cvm_limit,
// floor_limit) of 0 mean that no amount gets the relaxation.
//
// The zero value is not useful: start from DefaultRules, or parse a file
// with ParseRules (which starts from the defaults).
type Rules struct {
	// Currency (ISO 4217, "CNY" or "156") of every amount of the rules; a
	// transaction in another currency is refused (RuleCurrency).
	Currency string        `json:"currency"`
	Hotlist  HotlistRules  `json:"hotlist"`
	Velocity VelocityRules `json:"velocity"`
	CVM      CVMRules      `json:"cvm"`
	// MaxAmount caps one transaction per entry mode (RuleMaxAmount*).
	MaxAmount ModeAmounts  `json:"max_amount"`
	Offline   OfflineRules `json:"offline"`
	Refund    RefundRules  `json:"refund"`
}

// RefundRules configure the checks of refunds: money going back to a card
// or a wallet, the terminal's classic insider fraud (a refund to the
// cashier's own card). Each refund is also bounded by the entry mode's
// max_amount, and a refund that names its sale by that sale's amount
// left to refund.
type RefundRules struct {
	// RequireOriginal refuses a refund that names no approved sale of
	// this terminal (RuleRefundUnreferenced).
	RequireOriginal bool `json:"require_original"`
	// MaxTotal of the refunds approved on this terminal within Window,
	// this one included (RuleRefundTotal); 0: no cap. Every approved
	// refund is kept for Window whether or not a cap is set, so a cap
	// the acquirer sets later counts the refunds made before.
	MaxTotal int64    `json:"max_total"`
	Window   Duration `json:"window"`
}

// HotlistRules configure the hotlist check (RuleHotlist).
type HotlistRules struct {
	Enabled bool `json:"enabled"`
	// Required refuses every transaction while no hotlist is loaded
	// (RuleHotlistMissing). Off by default: a terminal fresh from the
	// factory sells before its first parameter download, with an empty
	// hotlist.
	Required bool `json:"required"`
}

// VelocityRules configure the per-card limits on this terminal: the
// approved sales and preauthorizations of one card within the sliding
// Window, this transaction included.
type VelocityRules struct {
	Enabled bool     `json:"enabled"`
	Window  Duration `json:"window"`
	// MaxCount of transactions in the window (RuleVelocityCount); 0: no cap.
	MaxCount int `json:"max_count"`
	// MaxAmount, their sum (RuleVelocityAmount); 0: no cap.
	MaxAmount int64 `json:"max_amount"`
}

// CVMRules configure tiered verification of sales and preauthorizations:
// up to the no-CVM limit of the entry mode no verification, above it an
// online PIN. With the host unreachable, an online PIN cannot be
// verified: a chip card inserted gets an offline PIN instead (verified by
// the card, if its CVM list allows), a swipe or tap is refused
// (RuleOfflineCVM). Wallet codes (qr) never need a CVM from the terminal
// (the wallet verified the customer on the phone); face pay always needs
// the payment password, since a face is never the only factor.
type CVMRules struct {
	NoCVMLimit CardAmounts `json:"no_cvm_limit"`
}

// CardAmounts is one amount per card entry mode.
type CardAmounts struct {
	Swipe  int64 `json:"swipe"`
	Insert int64 `json:"insert"`
	Tap    int64 `json:"tap"`
}

// ModeAmounts is one amount per entry mode.
type ModeAmounts struct {
	Swipe  int64 `json:"swipe"`
	Insert int64 `json:"insert"`
	Tap    int64 `json:"tap"`
	QR     int64 `json:"qr"`
	Face   int64 `json:"face"`
}

// Of returns the amount of entry mode m (0 for an unknown mode).
func (a ModeAmounts) Of(m EntryMode) int64 {
	switch m {
	case EntrySwipe:
		return a.Swipe
	case EntryInsert:
		return a.Insert
	case EntryTap:
		return a.Tap
	case EntryQR:
		return a.QR
	case EntryFace:
		return a.Face
	}
	return 0
}

// Of returns the amount of entry mode m (0 for qr, face or an unknown mode).
func (a CardAmounts) Of(m EntryMode) int64 {
	return ModeAmounts{Swipe: a.Swipe, Insert: a.Insert, Tap: a.Tap}.Of(m)
}

// OfflineRules configure approvals while the host is unreachable. Only
// sales by card may be approved offline; wallet codes and face pay need
// their platform. Count, amount and age cover the offline approvals not
// yet forwarded to the host, as the OfflineLedger reports them.
type OfflineRules struct {
	Enabled bool `json:"enabled"`
	// FloorLimit: the largest sale approved offline (RuleOfflineFloorLimit).
	FloorLimit int64 `json:"floor_limit"`
	// MaxCount of offline approvals pending, this one included
	// (RuleOfflineCount). Must be positive when Enabled.
	MaxCount int `json:"max_count"`
	// MaxAmount, their sum (RuleOfflineAmount). Must be positive when Enabled.
	MaxAmount int64 `json:"max_amount"`
	// MaxAge of the oldest pending offline approval (RuleOfflineAge): once
	// it is older, nothing more is approved offline until it is forwarded.
	MaxAge Duration `json:"max_age"`
	// Magstripe allows swiped sales offline (RuleOfflineMagstripe).
	Magstripe bool `json:"magstripe"`
}

// DefaultRules are the rules a terminal runs with until the acquirer sends
// its own. The amounts are CNY: contactless without PIN up to 1000.00 (the
// small-amount no-PIN, no-signature limit), face pay up to 1000.00 a
// transaction; PIN for every contact and swiped sale; at most 10 sales or
// 100,000.00 per card in 24 hours; offline up to 500.00 a sale, 10 sales
// or 2,000.00 pending, none older than 24 hours, no magstripe; refunds
// up to 20,000.00 in 24 hours on the terminal, with or without the sale
// they refund.
func DefaultRules() Rules {
	return Rules{
		Currency: "CNY",
		Hotlist:  HotlistRules{Enabled: true},
		Velocity: VelocityRules{
			Enabled:   true,
			Window:    Duration(24 * time.Hour),
			MaxCount:  10,
			MaxAmount: 100_000_00,
		},
		CVM:       CVMRules{NoCVMLimit: CardAmounts{Tap: 1000_00}},
		MaxAmount: ModeAmounts{Face: 1000_00},
		Offline: OfflineRules{
			Enabled:    true,
			FloorLimit: 500_00,
			MaxCount:   10,
			MaxAmount:  2000_00,
			MaxAge:     Duration(24 * time.Hour),
			Magstripe:  false,
		},
		Refund: RefundRules{MaxTotal: 20_000_00, Window: Duration(24 * time.Hour)},
	}
}

// Validate checks every key and names the first that is wrong
// (*RulesError).
func (r *Rules) Validate() error {
	bad := func(key, format string, a ...any) error {
		return &RulesError{Key: key, Problem: fmt.Sprintf(format, a...)}
	}
	if _, err := money.Lookup(r.Currency); err != nil {
		return bad("currency", "%q is not a known ISO 4217 currency", r.Currency)
	}
	amounts := []struct {
		key string
		v   int64
	}{
		{"velocity.max_amount", r.Velocity.MaxAmount},
		{"cvm.no_cvm_limit.swipe", r.CVM.NoCVMLimit.Swipe},
		{"cvm.no_cvm_limit.insert", r.CVM.NoCVMLimit.Insert},
		{"cvm.no_cvm_limit.tap", r.CVM.NoCVMLimit.Tap},
		{"max_amount.swipe", r.MaxAmount.Swipe},
		{"max_amount.insert", r.MaxAmount.Insert},
		{"max_amount.tap", r.MaxAmount.Tap},
		{"max_amount.qr", r.MaxAmount.QR},
		{"max_amount.face", r.MaxAmount.Face},
		{"offline.floor_limit", r.Offline.FloorLimit},
		{"offline.max_amount", r.Offline.MaxAmount},
		{"refund.max_total", r.Refund.MaxTotal},
	}
	for _, a := range amounts {
		if a.v < 0 || a.v > MaxMinor {
			return bad(a.key, "%d is not an amount in minor units (0 to %d)", a.v, MaxMinor)
		}
	}
	// The other modes' 0 means no limit; face pay always has one (the
	// market's rules: a per-transaction limit, 1000.00 CNY by default).
	if r.MaxAmount.Face == 0 {
		return bad("max_amount.face", "face pay must have a limit (0 would mean none)")
	}
	counts := []struct {
		key string
		v   int
	}{{"velocity.max_count", r.Velocity.MaxCount}, {"offline.max_count", r.Offline.MaxCount}}
	for _, c := range counts {
		if c.v < 0 || c.v > maxCount {
			return bad(c.key, "%d is not a count (0 to %d)", c.v, maxCount)
		}
	}
	durations := []struct {
		key     string
		v       Duration
		enabled bool
	}{{"velocity.window", r.Velocity.Window, r.Velocity.Enabled}, {"offline.max_age", r.Offline.MaxAge, r.Offline.Enabled},
		{"refund.window", r.Refund.Window, true}}
	for _, d := range durations {
		if d.v < 0 || time.Duration(d.v) > maxWindow || (d.enabled && d.v == 0) {
			return bad(d.key, "%s must be a positive duration up to %s", time.Duration(d.v), maxWindow)
		}
	}
	if r.Hotlist.Required && !r.Hotlist.Enabled {
		return bad("hotlist.required", "a hotlist cannot be required while the hotlist check is disabled")
	}
	if r.Velocity.Enabled && r.Velocity.MaxCount == 0 && r.Velocity.MaxAmount == 0 {
		return bad("velocity", "enabled without max_count or max_amount: set one, or set enabled to false")
	}
	if r.Offline.Enabled {
		if r.Offline.MaxCount == 0 {
			return bad("offline.max_count", "must be positive when offline approvals are enabled")
		}
		if r.Offline.MaxAmount == 0 {
			return bad("offline.max_amount", "must be positive when offline approvals are enabled")
		}
	}
	return nil
}

// ParseRules reads a rules file (one JSON object) over DefaultRules and
// validates the result: a file only needs the keys it changes. Unknown
// keys, trailing data and values of the wrong type are errors; a
// validation error names its key.
func ParseRules(b []byte) (Rules, error) {
	r := DefaultRules()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		var de *durationError
		if errors.As(err, &de) {
			return Rules{}, &RulesError{Key: durationKey(b), Problem: de.Error()}
		}
		return Rules{}, fmt.Errorf("%w: %w", ErrRules, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Rules{}, fmt.Errorf("%w: trailing data after the JSON object", ErrRules)
	}
	// A null object leaves the defaults; a JSON null for the whole file is
	// no rules file at all.
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return Rules{}, fmt.Errorf("%w: the file is null, not an object", ErrRules)
	}
	if err := r.Validate(); err != nil {
		return Rules{}, err
	}
	return r, nil
}

// durationKey finds the duration key that does not parse (encoding/json
// does not say which field an Unmarshaler failed in).
func durationKey(b []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) == nil {
		for _, k := range [][2]string{{"velocity", "window"}, {"offline", "max_age"}, {"refund", "window"}} {
			var section map[string]json.RawMessage
			if json.Unmarshal(top[k[0]], &section) != nil {
				continue
			}
			if v, ok := section[k[1]]; ok {
				var d Duration
				if d.UnmarshalJSON(v) != nil {
					return k[0] + "." + k[1]
				}
			}
		}
	}
	return "velocity.window, offline.max_age or refund.window"
}
