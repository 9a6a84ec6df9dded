// Package config is posd's configuration file: JSON where every key has a
// default, checked once into typed Settings that the daemon uses as they
// are (nothing is parsed twice, no error is ignored).
package config

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"posd/board"
	"posd/crypto/faceseal"
	"posd/terminal/host"
	"posd/terminal/linksig"
	"posd/terminal/money"
	"posd/terminal/paycode"
	"posd/terminal/risk"
	"posd/terminal/txn"
	"posd/terminal/wiresec"
	"posd/ui/receipt"
)

// Duration is a time.Duration written as "10s", "1m30s" in the config file.
// A value that does not parse is kept as bad so validate can name its key.
type Duration time.Duration

// durationError is a Duration that did not parse; validate reports it with
// the key it came from.
type durationError struct{ raw string }

func (e *durationError) Error() string {
	return fmt.Sprintf("%s is not a duration (write it like \"10s\" or \"1m30s\")", e.raw)
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

// Config is posd's configuration file (JSON). Every key has a default
// (defaultConfig); a file only needs the keys it changes. Unknown keys are
// an error, so a typo never silently falls back to a default.
type Config struct {
	Board     string         `json:"board"`
	DataDir   string         `json:"data_dir"`
	LogLevel  string         `json:"log_level"`
	LogFormat string         `json:"log_format"`
	API       APIConfig      `json:"api"`
	Terminal  TerminalConfig `json:"terminal"`
	Host      HostConfig     `json:"host"`
	DUKPT     DUKPTConfig    `json:"dukpt"`
	// RemoteKeys is remote key loading from the acquirer's key
	// distribution host (TR-34).
	RemoteKeys RemoteKeysConfig `json:"remote_keys"`
	// OTA is parameters and firmware over the air from the acquirer's
	// terminal management system (TUF repositories).
	OTA      OTAConfig      `json:"ota"`
	Sim      SimConfig      `json:"sim"`
	Watchdog WatchdogConfig `json:"watchdog"`
	// ShutdownTimeout bounds a shutdown on SIGTERM: an exchange with the
	// host under way may finish within it, so it must be longer than
	// host.connect_timeout + host.response_timeout.
	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// Retention is how long final records are kept; older ones are
	// purged (hourly), except those an outbox job still needs.
	Retention Duration `json:"retention"`
	// MSR, when set, replaces the stripe reader of a hardware board's
	// profile (kind evdev or serial, device or port, format).
	MSR *board.MSR `json:"msr"`
	// Printer, when set, gives a hardware board's profile its receipt
	// printer (an ESC/POS printer on a UART or USB-serial port).
	Printer *board.Printer `json:"printer"`
	// EMVParams is the EMV kernel's parameter file (terminal/emv); empty:
	// the test parameters shipped with posd (test CA keys only).
	EMVParams string `json:"emv_params,omitempty"`
	// Risk are the risk rules (terminal/risk), over the terminal's
	// defaults (DefaultRiskRules); the acquirer's arrive with its
	// parameters later.
	Risk json.RawMessage `json:"risk,omitempty"`
	// Console is the field engineer's service console.
	Console ConsoleConfig `json:"console"`
	// Wallet is the wallet platforms (WeChat Pay, Alipay, UnionPay QR).
	Wallet WalletConfig `json:"wallet"`
	// Face is face pay: the face-pay platform, its pinned key, the
	// liveness check's cascades and thresholds. Its per-transaction limit
	// is the risk rules' max_amount.face (default 1000.00).
	Face FaceConfig `json:"face"`
	// Receipt is the paper the terminal's printer gives: the slips of
	// transactions, the settlement report.
	Receipt ReceiptConfig `json:"receipt"`
	// Settlement is when the terminal settles its batch by itself.
	Settlement SettlementConfig `json:"settlement"`

	settings Settings
}

// SettlementConfig is the terminal's own daily settlement.
type SettlementConfig struct {
	// AutoAt is the local time ("23:30") at which the terminal closes an
	// open batch that has something to settle, every day; "" (the
	// default): only when the cashier closes it.
	AutoAt string `json:"auto_at"`
}

// FaceConfig is face pay.
type FaceConfig struct {
	// URL is the face-pay platform (http://127.0.0.1:8586 for
	// acquirer-sim's -face); empty: no face pay.
	URL string `json:"url"`
	// Key is the terminal's key of the face-pay link (hex, at least 16
	// bytes): it signs every request and checks every answer
	// (terminal/linksig, as the wallet link's). Empty on the sim board:
	// derived from the face-pay simulator's published test master key
	// (SimFaceMasterKey), as the simulator does; required on a real
	// board.
	Key string `json:"key"`
	// PlatformKey is the platform's X25519 public key (PEM) the face crop
	// is sealed to, pinned in the terminal's parameters;
	// PlatformKeyFile names a file holding it instead.
	PlatformKey     string `json:"platform_key"`
	PlatformKeyFile string `json:"platform_key_file"`
	// Cascades is the directory of OpenCV's Haar cascades (Debian's
	// opencv-data: /usr/share/opencv4/haarcascades).
	Cascades string `json:"cascades"`
	// ConsentTimeout bounds the wait for the customer's Enter.
	ConsentTimeout Duration `json:"consent_timeout"`
	// Attempts is how many liveness checks one sale may run when a check
	// finds too little to decide (1 to 5, default 2); a spoof is never
	// checked again.
	Attempts int `json:"attempts"`
	// Thresholds are the liveness decision's thresholds over the
	// defaults (terminal/face.Thresholds, by their JSON names).
	Thresholds json.RawMessage `json:"thresholds,omitempty"`
}

// WalletConfig is the wallet platforms' gateway and how unknown payments
// are resolved.
type WalletConfig struct {
	// URL is the gateway (http://127.0.0.1:8585 for acquirer-sim's
	// -wallet); empty: no wallet payments.
	URL string `json:"url"`
	// Key is the terminal's request signing key (hex); empty on the sim
	// board: derived from the wallet simulator's published test master
	// key (SimWalletMasterKey), as the simulator does.
	Key string `json:"key"`
	// QueryFirst is the first wait before querying an unknown payment,
	// doubling with jitter; QueryTotal bounds the queries, then the
	// payment is cancelled; QueryRate caps the terminal's queries a
	// second.
	QueryFirst Duration `json:"query_first"`
	QueryTotal Duration `json:"query_total"`
	QueryRate  float64  `json:"query_rate"`
	// MPM is the merchant in the codes the customer display shows.
	MPM MPMConfig `json:"mpm"`
}

// MPMConfig is the merchant in a merchant-presented code (EMV QRCPS):
// name, city, country and MCC as the customer's app shows them, and the
// merchant's id at each wallet platform.
type MPMConfig struct {
	Name    string `json:"name"`    // 1-25 ASCII characters; default: the merchant id
	City    string `json:"city"`    // 1-15; default "SHANGHAI"
	Country string `json:"country"` // ISO 3166-1 alpha-2; default "CN"
	MCC     string `json:"mcc"`     // 4 digits; default "5411"
	// Accounts maps a platform (unionpay, wechat, alipay) to the
	// merchant's id there; empty: the merchant id at all three.
	Accounts map[string]string `json:"accounts"`
	// Platform is the wallet whose code a sale shows when the cashier
	// names none (default unionpay).
	Platform string `json:"platform"`
}

// SimWalletMasterKey is the wallet simulator's published test master key
// (cmd/acquirer-sim/wallet.TestMasterKey): the sim board derives its
// signing key from it. It protects nothing.
const SimWalletMasterKey = "posd wallet simulator test master key"

// SimFaceMasterKey is the face-pay simulator's published test master key
// (cmd/acquirer-sim/facepay.TestMasterKey): the sim board derives its
// face-pay link key from it. It protects nothing.
const SimFaceMasterKey = "posd face-pay simulator test master key"

// ConsoleConfig is the service console on the board's debug UART (a
// pseudo-terminal on the sim board).
type ConsoleConfig struct {
	// AuthorityKey is the acquirer's engineer authority, pinned: the
	// Ed25519 public key (32 bytes, hex or base64) that signs login
	// tokens. Empty: the console serves, but nobody can log in.
	AuthorityKey string `json:"authority_key"`
	// Groups are the fleet groups this terminal belongs to: a token for
	// "group:NAME" logs in on every terminal of the group.
	Groups []string `json:"groups"`
	// IdleTimeout logs an idle session out.
	IdleTimeout Duration `json:"idle_timeout"`
	// Disabled: no console at all (the port stays closed).
	Disabled bool `json:"disabled"`
}

// APIConfig is the local HTTP+JSON API for the ECR/cashier and simulator.
type APIConfig struct {
	Listen string `json:"listen"`
}

// TerminalConfig identifies the terminal to the acquirer and bounds sales.
type TerminalConfig struct {
	ID          string   `json:"id"`
	MerchantID  string   `json:"merchant_id"`
	Currency    string   `json:"currency"`
	Currencies  []string `json:"currencies"`
	MaxAmount   string   `json:"max_amount"`
	CardTimeout Duration `json:"card_timeout"`
}

// HostConfig is the ISO 8583 link to the acquirer.
type HostConfig struct {
	Addr            string   `json:"addr"`
	Dialect         string   `json:"dialect"`
	TPDU            string   `json:"tpdu"`
	ConnectTimeout  Duration `json:"connect_timeout"`
	ResponseTimeout Duration `json:"response_timeout"`
	ReversalRetry   Duration `json:"reversal_retry"`
	// AdviceRate caps the advices of offline approvals sent per second
	// (0: no cap).
	AdviceRate float64 `json:"advice_rate"`
	// EchoIdle sends a network management echo when the host has not
	// been heard from for that long, between transactions (0: never).
	EchoIdle Duration `json:"echo_idle"`
}

// DUKPTConfig selects the key management of the link.
type DUKPTConfig struct {
	Mode string `json:"mode"`
	Slot string `json:"slot"`
}

// OTAConfig is the terminal's update repository: The Update Framework
// metadata signed by the acquirer, whose root the terminal pins.
type OTAConfig struct {
	// URL is the repository of the terminal's group (metadata/ and
	// targets/ under it); empty: no updates over the air.
	URL string `json:"url"`
	// Root is the pinned root.json file (required with url).
	Root string `json:"root"`
	// Interval is the mean time between two checks (each drawn with
	// jitter, so a fleet never polls in step); default 6h.
	Interval Duration `json:"interval"`
	// ReportURL, when set, is told what the terminal applied
	// (tms-sim's /v1/report).
	ReportURL string `json:"report_url"`
}

// RemoteKeysConfig is remote key loading: when the DUKPT slot is empty,
// the terminal proves who it is to the acquirer's key distribution host
// (KDH) with its device certificate and a fresh random number, and
// receives its key block protection key in a TR-34 token and its DUKPT
// initial key as a TR-31 block under it.
type RemoteKeysConfig struct {
	// URL is the KDH (tms-sim serves one); empty: no remote key loading.
	URL string `json:"url"`
	// KDHCA is the PEM file of the KDH's CA certificates, pinned: a
	// token signed under any other CA is refused.
	KDHCA string `json:"kdh_ca"`
	// FactoryURL: on the sim board, where the device key is certified
	// at first start (tms-sim's test manufacturer CA); a real board
	// carries its certificate from the factory.
	FactoryURL string `json:"factory_url"`
}

// ReceiptConfig says what prints by itself (any slip reprints on request:
// posctl receipt print).
type ReceiptConfig struct {
	// MerchantName heads every slip (empty: wallet.mpm.name, else the
	// merchant id).
	MerchantName string `json:"merchant_name"`
	// Copies print by themselves when a transaction is approved, in this
	// order: "merchant" (with the signature line when the card asked for
	// one), "cardholder". [] prints none.
	Copies []string `json:"copies"`
	// Declined: a declined or failed transaction prints a cardholder copy
	// saying why.
	Declined bool `json:"declined"`
}

// SimConfig is honoured on the sim board only.
type SimConfig struct {
	// TestKeys: when the DUKPT slot is empty, load it with the initial
	// key derived from a TEST base derivation key (TestBDK) and initial
	// KSN (TestIKSN). Empty values mean the published test values of the
	// DUKPT mode, the ones acquirer-sim uses by default. A real terminal
	// never holds a BDK.
	TestKeys bool   `json:"test_keys"`
	TestBDK  string `json:"test_bdk"`
	TestIKSN string `json:"test_iksn"`
	// IRCamera gives the simulated board a near-infrared camera beside
	// the colour one (face liveness then checks it too).
	IRCamera bool `json:"ir_camera"`
	// NoCamera leaves the simulated camera out (a board whose camera is
	// missing).
	NoCamera bool `json:"no_camera"`
}

// WatchdogConfig: with systemd, posd pings the watchdog when NOTIFY_SOCKET
// and WATCHDOG_USEC are set; nothing to configure beyond enabling it.
type WatchdogConfig struct {
	Enabled bool `json:"enabled"`
}

// Default is the configuration with every key at its default.
func Default() Config {
	return Config{
		Board:     "sim",
		DataDir:   "/var/lib/posd",
		LogLevel:  "info",
		LogFormat: "text",
		API:       APIConfig{Listen: "127.0.0.1:7070"},
		Terminal: TerminalConfig{
			ID:          "POS00001",
			MerchantID:  "MERCHANT0000001",
			Currency:    "CNY",
			Currencies:  []string{"CNY"},
			MaxAmount:   "50000.00",
			CardTimeout: Duration(60 * time.Second),
		},
		Host: HostConfig{
			Addr:            "127.0.0.1:8583",
			Dialect:         host.DefaultDialect,
			ConnectTimeout:  Duration(3 * time.Second),
			ResponseTimeout: Duration(10 * time.Second),
			ReversalRetry:   Duration(30 * time.Second),
		},
		DUKPT:           DUKPTConfig{Mode: "aes", Slot: "dukpt.0"},
		Sim:             SimConfig{TestKeys: true},
		Watchdog:        WatchdogConfig{Enabled: true},
		ShutdownTimeout: Duration(15 * time.Second),
		Retention:       Duration(90 * 24 * time.Hour),
		Console:         ConsoleConfig{IdleTimeout: Duration(5 * time.Minute)},
		Receipt:         ReceiptConfig{Copies: []string{"merchant", "cardholder"}},
		Wallet: WalletConfig{QueryFirst: Duration(2 * time.Second), QueryTotal: Duration(60 * time.Second), QueryRate: 0.5,
			MPM: MPMConfig{City: "SHANGHAI", Country: "CN", MCC: "5411", Platform: "unionpay"}},
		Face: FaceConfig{Cascades: "/usr/share/opencv4/haarcascades", ConsentTimeout: Duration(30 * time.Second), Attempts: txn.DefaultFaceAttempts},
	}
}

// Parse reads a config file over the defaults and validates it.
func Parse(b []byte) (Config, error) {
	c := Default()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var de *durationError
		var ue *json.UnmarshalTypeError
		switch {
		case errors.As(err, &de) && errors.As(err, &ue) && ue.Field != "":
			return c, fmt.Errorf("config: %s: %w", ue.Field, de)
		case errors.As(err, &de):
			return c, fmt.Errorf("config: %s: %w", durationKey(b, de.raw), de)
		}
		return c, decodeError(b, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("config: trailing data after the JSON object")
	}
	return c, c.Validate()
}

// durationKey finds the dotted key whose value is raw, for the error of a
// duration that does not parse (encoding/json does not say which field an
// Unmarshaler failed in).
func durationKey(b []byte, raw string) string {
	var tree map[string]any
	if json.Unmarshal(b, &tree) != nil {
		return "a duration"
	}
	var find func(prefix string, m map[string]any) string
	find = func(prefix string, m map[string]any) string {
		for k, v := range m {
			switch x := v.(type) {
			case map[string]any:
				if p := find(prefix+k+".", x); p != "" {
					return p
				}
			default:
				if enc, err := json.Marshal(x); err == nil && string(enc) == raw {
					return prefix + k
				}
			}
		}
		return ""
	}
	if k := find("", tree); k != "" {
		return k
	}
	return "a duration"
}

// parseTimeOfDay reads "HH:MM" (24-hour) as the time since midnight; ""
// is -1 (none).
func parseTimeOfDay(s string) (time.Duration, error) {
	if s == "" {
		return -1, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("%q is not a time of day (write it like \"23:30\")", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Load reads the config file at path ("" means the defaults).
func Load(path string) (Config, error) {
	if path == "" {
		c := Default()
		return c, c.Validate()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(b)
}

// Settings are the configuration's values, checked and typed.
type Settings struct {
	Profile         board.Profile
	Dialect         *host.Dialect
	TPDU            []byte // nil: off
	Currency        money.Currency
	Currencies      []string // ISO 4217 numeric codes accepted
	MaxAmount       int64    // minor units of Currency; 0: no limit
	Mode            wiresec.Mode
	LogLevel        slog.Level
	CardTimeout     time.Duration
	ConnectTimeout  time.Duration
	ResponseTimeout time.Duration
	ReversalRetry   time.Duration
	AdviceRate      float64
	EchoIdle        time.Duration // 0: no echo on an idle link
	ShutdownTimeout time.Duration
	Retention       time.Duration
	Risk            risk.Rules
	// ConsoleKey is the pinned engineer authority (nil: none);
	// ConsoleIdle the console's idle timeout.
	ConsoleKey  ed25519.PublicKey
	ConsoleIdle time.Duration
	// WalletKey is the wallet gateway's signing key (nil: no wallet).
	WalletKey []byte
	// FaceKey is the face-pay platform's pinned public key (nil: no face
	// pay).
	FaceKey *ecdh.PublicKey
	// FaceLinkKey is the face-pay link's signing key (nil: no face pay).
	FaceLinkKey []byte
	// FaceConsentTimeout bounds the wait for the customer's consent.
	FaceConsentTimeout time.Duration
	// FaceAttempts is how many liveness checks a face sale may run.
	FaceAttempts int
	// OTARoot is the pinned TUF root (nil: no updates over the air);
	// OTAInterval the mean time between checks.
	OTARoot     []byte
	OTAInterval time.Duration
	// KDHRoots are the pinned KDH CA certificates of remote key loading
	// (nil: none).
	KDHRoots *x509.CertPool
	// Merchant is the merchant of the codes the customer display shows
	// (nil: no wallet).
	Merchant *paycode.Merchant
	// Receipt heads the slips; ReceiptCopies print by themselves on an
	// approval, in order.
	Receipt       receipt.Header
	ReceiptCopies []receipt.Copy
	// AutoSettle is the time of day (since midnight, local) of the daily
	// settlement; negative: none.
	AutoSettle time.Duration
}

// Settings returns the typed values of a validated configuration (Parse,
// Load and Validate fill them).
func (c *Config) Settings() Settings { return c.settings }

// Validate checks every key and computes the typed Settings.
func (c *Config) Validate() error {
	var s Settings
	p, err := board.Lookup(c.Board)
	if err != nil {
		return fmt.Errorf("config: board: %w", err)
	}
	if c.MSR != nil {
		p.MSR = c.MSR
	}
	if c.Printer != nil {
		if err := c.Printer.Validate(); err != nil {
			return fmt.Errorf("config: printer: %w", err)
		}
		p.Printer = c.Printer
	}
	s.Profile = p
	if c.DataDir == "" {
		return fmt.Errorf("config: data_dir is empty")
	}
	if c.MSR != nil {
		if err := c.MSR.Validate(); err != nil {
			return fmt.Errorf("config: msr: %w", err)
		}
	}
	if s.Dialect, err = host.LookupDialect(c.Host.Dialect); err != nil {
		return fmt.Errorf("config: host.dialect: %w", err)
	}
	apiHost, _, err := net.SplitHostPort(c.API.Listen)
	if err != nil {
		return fmt.Errorf("config: api.listen: %w", err)
	}
	if ip := net.ParseIP(apiHost); apiHost != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("config: api.listen %q: the local API listens on loopback only", c.API.Listen)
	}
	if _, _, err := net.SplitHostPort(c.Host.Addr); err != nil {
		return fmt.Errorf("config: host.addr: %w", err)
	}
	if c.Host.TPDU != "" {
		b, err := hex.DecodeString(c.Host.TPDU)
		if err != nil || len(b) != 5 {
			return fmt.Errorf("config: host.tpdu must be 5 bytes of hex (e.g. 6000010000)")
		}
		s.TPDU = b
	}
	if len(c.Terminal.ID) != 8 {
		return fmt.Errorf("config: terminal.id must be 8 characters (ISO 8583 DE41)")
	}
	if len(c.Terminal.MerchantID) != 15 {
		return fmt.Errorf("config: terminal.merchant_id must be 15 characters (ISO 8583 DE42)")
	}
	cur, err := money.Lookup(c.Terminal.Currency)
	if err != nil {
		return fmt.Errorf("config: terminal.currency: %w", err)
	}
	s.Currency = cur
	inList := false
	for _, x := range c.Terminal.Currencies {
		xc, err := money.Lookup(x)
		if err != nil {
			return fmt.Errorf("config: terminal.currencies: %w", err)
		}
		inList = inList || xc.Numeric == cur.Numeric
		s.Currencies = append(s.Currencies, xc.Numeric)
	}
	if !inList {
		return fmt.Errorf("config: terminal.currency %s is not in terminal.currencies %v: every sale would be refused", c.Terminal.Currency, c.Terminal.Currencies)
	}
	for key, d := range map[string]Duration{
		"terminal.card_timeout": c.Terminal.CardTimeout, "host.connect_timeout": c.Host.ConnectTimeout,
		"host.response_timeout": c.Host.ResponseTimeout, "host.reversal_retry": c.Host.ReversalRetry,
		"shutdown_timeout": c.ShutdownTimeout, "retention": c.Retention,
	} {
		if d <= 0 {
			return fmt.Errorf("config: %s must be a positive duration, got %s", key, time.Duration(d))
		}
	}
	s.CardTimeout, s.ConnectTimeout = time.Duration(c.Terminal.CardTimeout), time.Duration(c.Host.ConnectTimeout)
	s.ResponseTimeout, s.ReversalRetry = time.Duration(c.Host.ResponseTimeout), time.Duration(c.Host.ReversalRetry)
	s.ShutdownTimeout, s.Retention = time.Duration(c.ShutdownTimeout), time.Duration(c.Retention)
	if exch := s.ConnectTimeout + s.ResponseTimeout; s.ShutdownTimeout <= exch {
		return fmt.Errorf("config: shutdown_timeout (%s) must be longer than host.connect_timeout + host.response_timeout (%s): "+
			"an exchange with the host under way when posd is stopped must be able to finish", s.ShutdownTimeout, exch)
	}
	if s.Retention < 24*time.Hour {
		return fmt.Errorf("config: retention must be at least 24h, got %s", s.Retention)
	}
	if s.AutoSettle, err = parseTimeOfDay(c.Settlement.AutoAt); err != nil {
		return fmt.Errorf("config: settlement.auto_at: %w", err)
	}
	if c.Host.AdviceRate < 0 || c.Host.AdviceRate > 1000 || c.Host.AdviceRate != c.Host.AdviceRate {
		return fmt.Errorf("config: host.advice_rate must be between 0 (no cap) and 1000 advices a second, got %v", c.Host.AdviceRate)
	}
	s.AdviceRate = c.Host.AdviceRate
	if s.EchoIdle = time.Duration(c.Host.EchoIdle); s.EchoIdle != 0 && s.EchoIdle < time.Minute {
		return fmt.Errorf("config: host.echo_idle must be 0 (no echo) or at least 1m, got %s: a fleet echoing more often loads the acquirer", s.EchoIdle)
	}
	if c.Terminal.MaxAmount != "" {
		if s.MaxAmount, err = cur.Parse(c.Terminal.MaxAmount); err != nil {
			return fmt.Errorf("config: terminal.max_amount: %w", err)
		}
	}
	if s.Mode, err = wiresec.ParseMode(c.DUKPT.Mode); err != nil {
		return fmt.Errorf("config: dukpt.mode: %w", err)
	}
	if c.DUKPT.Slot == "" {
		return fmt.Errorf("config: dukpt.slot is empty")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
		s.LogLevel.UnmarshalText([]byte(c.LogLevel))
	default:
		return fmt.Errorf("config: log_level must be debug, info, warn or error")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("config: log_format must be text or json")
	}
	if _, err := hex.DecodeString(c.Sim.TestBDK); err != nil {
		return fmt.Errorf("config: sim.test_bdk is not hex")
	}
	if _, err := hex.DecodeString(c.Sim.TestIKSN); err != nil {
		return fmt.Errorf("config: sim.test_iksn is not hex")
	}
	if s.Risk, err = riskRules(c.Risk); err != nil {
		if kerr, ok := riskError(c.Risk, err); ok {
			return kerr
		}
		return fmt.Errorf("config: risk: %w", err)
	}
	if err := RiskCoversCurrencies(s.Risk, s.Currencies); err != nil {
		return fmt.Errorf("config: terminal.currencies: %w", err)
	}
	if c.Console.AuthorityKey != "" {
		if s.ConsoleKey, err = parseEd25519Public(c.Console.AuthorityKey); err != nil {
			return fmt.Errorf("config: console.authority_key: %w", err)
		}
	}
	for _, g := range c.Console.Groups {
		if g == "" || len(g) > 32 || strings.ContainsAny(g, " \t:") {
			return fmt.Errorf("config: console.groups: %q is not a group name (1-32 characters, no spaces or colons)", g)
		}
	}
	if s.ConsoleIdle = time.Duration(c.Console.IdleTimeout); s.ConsoleIdle < 10*time.Second || s.ConsoleIdle > 24*time.Hour {
		return fmt.Errorf("config: console.idle_timeout must be from 10s to 24h")
	}
	if err := c.validateWallet(&s); err != nil {
		return err
	}
	if err := c.receipt(&s); err != nil {
		return err
	}
	if err := c.validateFace(&s); err != nil {
		return err
	}
	if err := c.validateRemoteKeys(&s); err != nil {
		return err
	}
	if err := c.validateOTA(&s); err != nil {
		return err
	}
	c.settings = s
	return nil
}

// DefaultRiskRules are terminal/risk's defaults with two changes for a
// terminal that has not had the acquirer's parameters yet: swiped and
// inserted sales up to 1000.00 need no PIN from the rules (as contactless
// ones; a chip card's own CVM list may still ask for one), and a card may
// make up to 100 sales a day on this terminal.
func DefaultRiskRules() risk.Rules {
	r := risk.DefaultRules()
	r.CVM.NoCVMLimit.Swipe, r.CVM.NoCVMLimit.Insert = 1000_00, 1000_00
	r.Velocity.MaxCount = 100
	return r
}

// riskRules reads the risk key over DefaultRiskRules.
func riskRules(raw json.RawMessage) (risk.Rules, error) {
	def, err := json.Marshal(DefaultRiskRules())
	if err != nil {
		return risk.Rules{}, err
	}
	if len(raw) == 0 {
		return risk.ParseRules(def)
	}
	// Overlay the file's keys on the defaults, then let risk check all.
	var base, over map[string]any
	if err := json.Unmarshal(def, &base); err != nil {
		return risk.Rules{}, err
	}
	if err := json.Unmarshal(raw, &over); err != nil {
		return risk.Rules{}, err
	}
	merged, err := json.Marshal(overlay(base, over))
	if err != nil {
		return risk.Rules{}, err
	}
	return risk.ParseRules(merged)
}

// overlay sets every key of over in base, recursing into objects.
func overlay(base, over map[string]any) map[string]any {
	for k, v := range over {
		if bo, ok := base[k].(map[string]any); ok {
			if vo, ok := v.(map[string]any); ok {
				base[k] = overlay(bo, vo)
				continue
			}
		}
		base[k] = v
	}
	return base
}

// Published test key material (ANSI X9.24-1:2009 annex A.4 and the
// X9.24-3:2017 supplement), the defaults of acquirer-sim.
var testKeys = map[wiresec.Mode][2]string{
	wiresec.ModeTDES: {"0123456789ABCDEFFEDCBA9876543210", "FFFF9876543210E00000"},
	wiresec.ModeAES:  {"FEDCBA9876543210F1F1F1F1F1F1F1F1", "123456789012345600000000"},
}

// SimTestKey returns the TEST BDK and initial KSN the sim board loads. The
// caller wipes the BDK.
func (c *Config) SimTestKey(mode wiresec.Mode) (bdk, iksn []byte) {
	def := testKeys[mode]
	b, k := c.Sim.TestBDK, c.Sim.TestIKSN
	if b == "" {
		b = def[0]
	}
	if k == "" {
		k = def[1]
	}
	bdk, _ = hex.DecodeString(b)
	iksn, _ = hex.DecodeString(k)
	return bdk, iksn
}

// JSON is the effective configuration, indented (posd -print-config).
func (c Config) JSON() ([]byte, error) { return json.MarshalIndent(c, "", "  ") }

// parseEd25519Public reads a 32-byte Ed25519 public key written in hex or
// base64.
func parseEd25519Public(v string) (ed25519.PublicKey, error) {
	v = strings.TrimSpace(v)
	for _, dec := range []func(string) ([]byte, error){hex.DecodeString, base64.StdEncoding.DecodeString, base64.RawURLEncoding.DecodeString} {
		if b, err := dec(v); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, errors.New("not an Ed25519 public key (32 bytes in hex or base64)")
}

// validateOTA reads the pinned root of the update repository.
func (c *Config) validateOTA(s *Settings) error {
	o := c.OTA
	if o.URL == "" {
		if o.Root != "" || o.ReportURL != "" {
			return fmt.Errorf("config: ota.root and ota.report_url need ota.url")
		}
		return nil
	}
	for what, v := range map[string]string{"url": o.URL, "report_url": o.ReportURL} {
		if v == "" && what == "report_url" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config: ota.%s must be an http(s) URL", what)
		}
	}
	if o.Root == "" {
		return fmt.Errorf("config: ota.root (the pinned root.json) is required with ota.url")
	}
	b, err := os.ReadFile(o.Root)
	if err != nil {
		return fmt.Errorf("config: ota.root: %w", err)
	}
	if len(b) == 0 || len(b) > 1<<20 {
		return fmt.Errorf("config: ota.root: %s is empty or larger than 1 MiB", o.Root)
	}
	s.OTARoot = b
	s.OTAInterval = time.Duration(o.Interval)
	if s.OTAInterval == 0 {
		s.OTAInterval = 6 * time.Hour
	}
	if s.OTAInterval < time.Second || s.OTAInterval > 7*24*time.Hour {
		return fmt.Errorf("config: ota.interval must be from 1s to 168h")
	}
	return nil
}

// validateRemoteKeys reads the pinned KDH CA of remote key loading.
func (c *Config) validateRemoteKeys(s *Settings) error {
	r := c.RemoteKeys
	if r.URL == "" {
		if r.KDHCA != "" || r.FactoryURL != "" {
			return fmt.Errorf("config: remote_keys.kdh_ca and .factory_url need remote_keys.url")
		}
		return nil
	}
	for what, v := range map[string]string{"url": r.URL, "factory_url": r.FactoryURL} {
		if v == "" && what == "factory_url" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config: remote_keys.%s must be an http(s) URL", what)
		}
	}
	if r.FactoryURL != "" && c.Board != "sim" {
		return fmt.Errorf("config: remote_keys.factory_url is for the sim board only (a real board's certificate comes from its factory)")
	}
	if r.KDHCA == "" {
		return fmt.Errorf("config: remote_keys.kdh_ca (the KDH CA certificate, PEM) is required with remote_keys.url")
	}
	b, err := os.ReadFile(r.KDHCA)
	if err != nil {
		return fmt.Errorf("config: remote_keys.kdh_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("config: remote_keys.kdh_ca: no PEM certificate in %s", r.KDHCA)
	}
	s.KDHRoots = pool
	return nil
}

// validateWallet checks the wallet keys and derives the sim board's key.
func (c *Config) validateWallet(s *Settings) error {
	w := c.Wallet
	if w.URL == "" {
		return nil
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("config: wallet.url must be an http(s) URL")
	}
	if s.WalletKey, err = c.linkKey("wallet", w.Key, SimWalletMasterKey); err != nil {
		return err
	}
	if w.QueryFirst <= 0 || w.QueryTotal < w.QueryFirst || time.Duration(w.QueryTotal) > 10*time.Minute {
		return fmt.Errorf("config: wallet.query_first must be positive and wallet.query_total from it to 10m")
	}
	if w.QueryRate <= 0 || w.QueryRate > 100 {
		return fmt.Errorf("config: wallet.query_rate must be between 0 and 100 queries a second")
	}
	return c.mpmMerchant(s)
}

// receipt checks the receipt keys.
func (c *Config) receipt(s *Settings) error {
	name := c.Receipt.MerchantName
	if name == "" {
		name = c.Wallet.MPM.Name
	}
	if name == "" {
		name = c.Terminal.MerchantID
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("config: receipt.merchant_name has a control character")
		}
	}
	s.Receipt = receipt.Header{MerchantName: name, MerchantID: c.Terminal.MerchantID, TerminalID: c.Terminal.ID}
	s.ReceiptCopies = nil
	seen := map[receipt.Copy]bool{}
	for _, v := range c.Receipt.Copies {
		cp, err := receipt.ParseCopy(v)
		if err != nil || seen[cp] {
			return fmt.Errorf("config: receipt.copies: %q is not merchant or cardholder, each at most once", v)
		}
		seen[cp] = true
		s.ReceiptCopies = append(s.ReceiptCopies, cp)
	}
	return nil
}

// mpmMerchant builds the merchant of merchant-presented codes from
// wallet.mpm and checks it by writing a code with it.
func (c *Config) mpmMerchant(s *Settings) error {
	m := c.Wallet.MPM
	guis := map[string]string{"unionpay": paycode.GUIUnionPay, "wechat": paycode.GUIWeChat, "alipay": paycode.GUIAlipay}
	if _, ok := guis[m.Platform]; !ok {
		return fmt.Errorf("config: wallet.mpm.platform must be unionpay, wechat or alipay")
	}
	name := m.Name
	if name == "" {
		name = c.Terminal.MerchantID
	}
	mer := paycode.Merchant{Name: name, City: m.City, Country: m.Country, MCC: m.MCC, Terminal: c.Terminal.ID}
	accounts := m.Accounts
	if len(accounts) == 0 {
		accounts = map[string]string{"unionpay": c.Terminal.MerchantID, "wechat": c.Terminal.MerchantID, "alipay": c.Terminal.MerchantID}
	}
	for _, p := range []string{"unionpay", "wechat", "alipay"} {
		if id, ok := accounts[p]; ok {
			mer.Accounts = append(mer.Accounts, paycode.Account{GUI: guis[p], MerchantID: id})
		}
	}
	for p := range accounts {
		if _, ok := guis[p]; !ok {
			return fmt.Errorf("config: wallet.mpm.accounts: unknown platform %q", p)
		}
	}
	if _, ok := accounts[m.Platform]; !ok {
		return fmt.Errorf("config: wallet.mpm.platform %s has no account in wallet.mpm.accounts", m.Platform)
	}
	if _, err := paycode.BuildMPM(mer, 1, "156", "P1"); err != nil {
		return fmt.Errorf("config: wallet.mpm: %w", err)
	}
	s.Merchant = &mer
	return nil
}

// linkKey is the terminal's key of a signed platform link (section
// "wallet" or "face"): the configured hex key (at least 16 bytes), or on
// the sim board the simulator's, derived from its published test master
// key and the terminal id; a real board must be given one.
func (c *Config) linkKey(section, hexKey, simMaster string) ([]byte, error) {
	switch {
	case hexKey != "":
		k, err := hex.DecodeString(hexKey)
		if err != nil || len(k) < 16 {
			return nil, fmt.Errorf("config: %s.key must be at least 16 bytes of hex", section)
		}
		return k, nil
	case c.Board == "sim":
		return linksig.TerminalKey([]byte(simMaster), c.Terminal.ID), nil
	}
	return nil, fmt.Errorf("config: %s.key is required with %s.url on a real board", section, section)
}

// validateFace checks face pay's platform and pinned key.
func (c *Config) validateFace(s *Settings) error {
	f := c.Face
	if f.URL == "" {
		return nil
	}
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("config: face.url must be an http(s) URL")
	}
	if s.FaceLinkKey, err = c.linkKey("face", f.Key, SimFaceMasterKey); err != nil {
		return err
	}
	pem := []byte(f.PlatformKey)
	switch {
	case f.PlatformKey != "" && f.PlatformKeyFile != "":
		return fmt.Errorf("config: face.platform_key and face.platform_key_file are exclusive")
	case f.PlatformKeyFile != "":
		if pem, err = os.ReadFile(f.PlatformKeyFile); err != nil {
			return fmt.Errorf("config: face.platform_key_file: %w", err)
		}
	case f.PlatformKey == "":
		return fmt.Errorf("config: face.url needs the platform's pinned key (face.platform_key or face.platform_key_file)")
	}
	s.FaceConsentTimeout = time.Duration(f.ConsentTimeout)
	if s.FaceKey, err = faceseal.ParsePublicKey(pem); err != nil {
		return fmt.Errorf("config: face platform key: %w", err)
	}
	if f.ConsentTimeout <= 0 || time.Duration(f.ConsentTimeout) > 5*time.Minute {
		return fmt.Errorf("config: face.consent_timeout must be positive and at most 5m")
	}
	if f.Cascades == "" {
		return fmt.Errorf("config: face.cascades must name OpenCV's cascade directory")
	}
	if f.Attempts < 1 || f.Attempts > 5 {
		return fmt.Errorf("config: face.attempts must be 1 to 5")
	}
	s.FaceAttempts = f.Attempts
	return nil
}

// RiskCoversCurrencies checks that the risk rules can check a transaction
// in each of the terminal's currencies (ISO 4217 numeric): every
// transaction goes through them, and their amounts are in one currency,
// so a sale in another would be refused after the card was read.
func RiskCoversCurrencies(r risk.Rules, currencies []string) error {
	rc, err := money.Lookup(r.Currency)
	if err != nil {
		return err
	}
	for _, x := range currencies {
		if x == rc.Numeric {
			continue
		}
		xc, _ := money.Lookup(x)
		return fmt.Errorf("%s is not the risk rules' currency %s (risk.currency): every transaction is checked by the rules, "+
			"whose amounts are in %s, so every sale in %s would be refused; list %s only, or set the rules' currency and amounts",
			xc.Alpha, rc.Alpha, rc.Alpha, xc.Alpha, rc.Alpha)
	}
	return nil
}
