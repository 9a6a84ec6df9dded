// Package facepay is the face-pay platform simulator of acquirer-sim: an
// http.Handler speaking the protocol of posd/terminal/facepay, on
// loopback only. It holds the platform's X25519 key (the terminals pin
// its public key), a gallery of enrolled customers (the deck's face
// subjects, board/sim/facescene), and checks payment passwords sent as
// DUKPT PIN blocks with the ISO host's BDK.
//
// # Protocol
//
// Every call is POST {base}/face/v1/{identify|confirm|cancel|reverse}
// with a JSON body (at most 128 KiB; unknown fields refused) and three
// headers (terminal/linksig, the wallet link's scheme):
//
//	X-Face-Terminal   the terminal id (1-32 letters and digits); the body's terminal_id must be the same
//	X-Face-Timestamp  unix seconds; refused when more than 5 minutes off
//	X-Face-Signature  hex HMAC-SHA256 under the terminal's key of
//	                  "POST\n" path "\n" terminal "\n" timestamp "\n" body
//
// The terminal's key is HMAC-SHA256(master key, terminal id)
// (TerminalKey; the master key defaults to the published TestMasterKey).
// A request that does not verify is refused bad_signature (401), the
// only answer not signed (the platform cannot know the key of a request
// it could not authenticate); every other answer is signed in
// X-Face-Signature: hex HMAC-SHA256 of "RESP\n" path "\n" request
// signature "\n" body, which binds it to its request. GET
// {base}/face/v1/key serves the platform's public key as PEM "PUBLIC
// KEY" for the terminal's parameters (public: no signature). Every
// answer is a JSON object {"order_id","session","masked","status",
// "reason","platform_txn_id","tries_left","amount","currency","code"} of
// which each operation fills its own fields; code is empty with HTTP 200
// and names a refusal otherwise. amount (minor units) and currency are
// what the platform holds the order at: what it charged once approved
// (and gave back once reversed), else the order's; a reverse of an order
// it never had states none.
//
//	identify  {"terminal_id","order_id","amount","currency","sealed","liveness","challenge","consent_at"}
//	          -> {"order_id","session","masked"}
//	confirm   {"terminal_id","session","order_id","amount","currency","pin_block","ksn"}
//	          -> {"order_id","status":"approved","platform_txn_id","amount","currency"}
//	           | {"order_id","status":"declined","reason":"wrong_password"|"locked","tries_left","amount","currency"}
//	cancel    {"terminal_id","session"} -> {"session","status":"cancelled"}
//	reverse   {"terminal_id","order_id"} -> {"order_id","status":"reversed"|"cancelled","platform_txn_id","amount","currency"}
//
// terminal_id and order_id are 1-32 letters and digits, amount is in
// minor units, currency ISO 4217 (3 digits or letters), consent_at an
// RFC 3339 time (required: no consent, no identification). sealed is the
// base64 of a crypto/faceseal envelope of the JPEG face crop, sealed to
// the platform's key with the associated data
//
//	terminal_id "|" order_id "|" amount (decimal) "|" currency     e.g. T0000009|F00000001|8800|156
//
// (terminal/facepay.AAD): a crop sealed for another terminal, order or
// amount does not open. The crop is opened in memory, decoded, matched
// and wiped at once; it is never stored. identify answers the account
// masked (first 4, last 4), never its number: the terminal does not need
// it. pin_block is the hex of the payment password's PIN block bound, in
// the PAN's place, to terminal/facepay.PasswordBinding of the terminal,
// session, order, amount and currency — ISO 9564 format 0 under the TDES
// DUKPT PIN variant, or format 4 under the AES DUKPT PIN key (Opts.Mode),
// of the KSN ksn (hex) derived from Opts.BDK (the ISO host's BDK). A PIN
// block made for another session, order or amount does not decrypt to
// the password.
//
// Refusals:
//
//	bad_request     400  body, method or fields not valid (a KSN that is no DUKPT transaction KSN: counter zero or
//	                     too many one-bits); a picture in the clear in the body; terminal_id not the signer's
//	bad_signature   401  signature, terminal id or timestamp wrong (unsigned answer)
//	bad_envelope    400  sealed is not an envelope, or does not open (tampered, wrong key, other aad)
//	over_limit      403  amount over Opts.Limit (default 100000: 1000.00 CNY); checked before the crop is opened
//	locked          403  identify: the matched account is locked
//	no_match        404  no enrolled face within the matcher's threshold
//	no_session      404  confirm or cancel of a session unknown, expired (5 minutes), ended, or another terminal's
//	order_mismatch  409  identify of an order id already paid, reversed or cancelled; confirm naming another
//	                     order, amount or currency than its session's
//	reverse_expired 409  reverse of an order paid and then forgotten (DecidedTTL, MaxDecided), or, once
//	                     MaxForgottenPaid overflowed for the terminal, of any order of it not held
//	ksn_reused      409  confirm with a KSN the platform has already had from that terminal (a replayed PIN
//	                     block; reason "KSN already used"), or one KSNWindow or more counters below the highest
//	                     it has had of the KSN's device (reason "KSN older than the replay window")
//
// A session takes one confirm: the first confirm naming it with its order
// ends it, whatever its outcome. One unconfirmed after SessionTTL is
// forgotten, with its order while nothing was decided on it, so the
// platform holds the open sessions of the last SessionTTL, not every
// identification it made. A decided order (approved, cancelled,
// reversed, or a never-had order a reverse remembered as cancelled) is
// kept Opts.DecidedTTL (default 24 hours) after its last decision, and at
// most Opts.MaxDecided (default 100000) are kept, the oldest decided
// giving way first: within that window a repeated confirm is the same
// approval, a repeated reverse the same answer, an identify of it
// order_mismatch. Then it is forgotten (Totals.Forgotten): its confirm
// or cancel is no_session. Of a forgotten order that was paid (approved,
// not reversed) the platform keeps a 64-bit hash of its terminal and
// order id, at most Opts.MaxForgottenPaid (default 262144, some 12 MiB):
// its reverse is refused reverse_expired (409, CodeReverseExpired) and
// an identify of its id order_mismatch, never answered "cancelled" or
// paid again; a real platform refuses a reversal past its window the
// same way (WeChat Pay REVERSE_EXPIRE), and the merchant refunds the
// order instead. A forgotten order not paid (cancelled, reversed) is as
// one never had: a reverse of it is cancelled, an identify opens a new
// order (the terminals never reuse an order id). When a paid order's
// hash gives way too, the platform can no longer tell that terminal's
// orders it never had from ones it paid: it refuses every reverse of an
// order of that terminal it does not hold (reverse_expired) from then
// on. A wrong password declines the confirm
// (wrong_password, tries_left); the third wrong one in a row, over
// sessions, locks the account (declined, locked, tries_left 0) for
// Opts.LockFor (default 15 minutes); a right one approves it and resets
// the count. Every KSN of a confirm is spent, and refused when it comes
// again. The platform does not keep every KSN: a KSN is its device's
// initial KSN and a transaction counter that only goes up, so it keeps,
// per terminal and device, the highest counter spent and which of the
// KSNWindow (64) counters up to it were spent, in a 64-bit mask — an
// anti-replay window as IPsec keeps (RFC 4303 3.4.3). A counter within
// the window is accepted once, in any order; one further below is
// refused as too old, spent or not (a terminal spends its counters in
// order). A terminal has windows for at most KSNDevices (4) devices,
// the least recently used giving way to a new one (a key custodian
// loaded a new initial key): about 300 bytes a terminal, whatever the
// number of its confirms. Confirm is idempotent by terminal id
// + order id: a repeat of an approved order's confirm answers the same
// approval and never pays twice (Totals.ApprovedTwice counts the
// impossible). Reverse, only from the terminal that made the sale (the
// order is the signing terminal's), gives back an approved order
// (reversed) and closes any other (cancelled), remembering an order id it
// never had as cancelled.
//
// A signed request is executed once. Its signature is good for as long
// as its timestamp is within 5 minutes, so the same bytes may come
// again: the terminal's retry within the same second (it signs every
// attempt anew, but the timestamp is in seconds), or a copy replayed off
// the wire. A verbatim repeat — the same terminal and request signature,
// hence the same path, timestamp and body — is answered with the first
// copy's answer and signature and not executed again (journal: repeat;
// Totals.Repeats): a replayed identify neither runs the match again nor
// replaces the session the terminal holds, a replayed confirm is the
// first one's answer. Refusing a repeat instead would refuse the
// terminal's own retries. The answers are kept until their requests are
// stale, at most 256 a terminal and 16384 in all (terminal/linksig
// Answers: about 10 MiB at most for these answers); the oldest give way
// first. A repeat of one that gave way is executed again, and then, as
// before, idempotency is the protection: confirm by order id and a KSN
// spent once, cancel and reverse by their session or order (an identify
// opens a new session, in the place of the open one).
//
// # Magic amounts (last two digits of the amount in minor units)
//
//	66  approved at one minor unit more than the order's: the confirm's answer, its repeats
//	    and the reverse state that amount (a faulty platform); the terminal must not
//	    approve the sale, and reverses it (reversed, the charged amount given back)
//	67  approved in another currency than the order's (344 HKD; 156 CNY when HKD was
//	    asked; alphabetic codes when the order's is), the same minor units: as 66
//	else the order's amount and currency
//
// The limit, the match and the password are checked as for any amount.
// The journal's confirm and reverse lines state the charged amount and
// currency (charged, charged_currency) when they are not the order's.
//
// # Enrolled customers
//
// Every enrolled subject of board/sim/facescene has an account (Identities):
//
//	name     account            masked             password
//	alice    6230580000001001   6230 **** 1001     135790
//	bob      6230580000001002   6230 **** 1002     246802
//	chen     6230580000001003   6230 **** 1003     314159
//	dana     6230580000001004   6230 **** 1004     271828
//	emil     6230580000001005   6230 **** 1005     161803
//	fatima   6230580000001006   6230 **** 1006     112358
//
// An enrolled subject missing from the table gets 62305800000019NN and
// the password of Password(name) (the table's, else derived from the
// name). The unenrolled subjects (mallory, oscar) are strangers: their
// faces answer no_match.
//
// # Journal
//
// Every call gets a JSON line (Entry): time, op, terminal, order,
// session, amount, currency, status, code, reason; for identify the
// masked account matched, the match distance, and proof that only
// ciphertext arrived — sealed_bytes, sealed_sha256, sealed_entropy (bits
// per byte of the envelope, about 8 for ciphertext) and jpeg_in_body (a
// JPEG or PNG signature anywhere in the raw body, or a picture's base64
// at the start of sealed). Never the picture, the account number, the
// PIN block or the password.
package facepay

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"posd/conn/clock"
	"posd/crypto/dukpt"
	"posd/crypto/faceseal"
	fp "posd/terminal/facepay"
	"posd/terminal/linksig"
	"posd/terminal/wiresec"
)

// TestMasterKey is the published master key the simulator derives the
// terminals' link keys from (TerminalKey). It protects nothing.
const TestMasterKey = "posd face-pay simulator test master key"

// TerminalKey is a terminal's signing key under master: what the
// terminal is provisioned with (face.key; the sim board derives it).
func TerminalKey(master []byte, terminalID string) []byte {
	return linksig.TerminalKey(master, terminalID)
}

// Defaults of Opts.
const (
	DefaultLimit      = 100000 // 1000.00 in minor units
	DefaultTries      = 3
	DefaultLockFor    = 15 * time.Minute
	DefaultSessionTTL = 5 * time.Minute
	// DefaultDecidedTTL and DefaultMaxDecided bound the decided orders
	// the platform holds.
	DefaultDecidedTTL = 24 * time.Hour
	DefaultMaxDecided = 100000
	// DefaultMaxForgottenPaid bounds the hashes of forgotten paid orders
	// (24 bytes each and their map entry: some 12 MiB at most).
	DefaultMaxForgottenPaid = 1 << 18
	// MaxCropSide bounds the width and height of a decoded crop.
	MaxCropSide = 1024
)

// Opts configures a Platform.
type Opts struct {
	// Key is the platform's private key (required): crops are sealed to
	// its public key.
	Key *ecdh.PrivateKey
	// Mode and BDK decrypt the payment passwords' PIN blocks: the ISO
	// host's DUKPT mode and base derivation key.
	Mode wiresec.Mode
	BDK  []byte
	// Limit is the face-pay limit in minor units (0: DefaultLimit).
	Limit int64
	// Tries are the wrong passwords in a row that lock an account (0:
	// DefaultTries; at most fp.MaxTriesLeft+1), for LockFor (0:
	// DefaultLockFor).
	Tries   int
	LockFor time.Duration
	// SessionTTL is how long a candidate waits for its confirm (0:
	// DefaultSessionTTL).
	SessionTTL time.Duration
	// DecidedTTL is how long a decided order (approved, reversed,
	// cancelled) is kept after its last change (0: DefaultDecidedTTL);
	// MaxDecided bounds how many are kept (0: DefaultMaxDecided).
	DecidedTTL time.Duration
	MaxDecided int
	// MaxForgottenPaid bounds the hashes of forgotten paid orders kept
	// (0: DefaultMaxForgottenPaid).
	MaxForgottenPaid int
	// Gallery is the enrolled faces (nil: DefaultGallery, the enrolled
	// subjects of board/sim/facescene).
	Gallery *Gallery
	// MasterKey derives the terminals' signing keys (nil:
	// TestMasterKey).
	MasterKey []byte
	Journal   io.Writer
	Logger    *slog.Logger
	Clock     clock.Clock
	// Rand draws session ids (nil: crypto/rand).
	Rand io.Reader
}

// Totals are the platform's counters.
type Totals struct {
	Calls, BadRequest, BadEnvelope, OverLimit int
	BadSignature, KSNReused                   int
	KSNTooOld                                 int // of KSNReused: older than the replay window
	Identifies, Matches, NoMatch              int
	Confirms, Approved, ConfirmRepeats        int
	WrongPassword, Locked                     int
	ApprovedTwice                             int // approvals of an order already approved: must stay 0
	Repeats                                   int // verbatim repeats answered from memory, not executed
	Cancels, Reverses, Reversed               int
	Forgotten                                 int // decided orders dropped past DecidedTTL or MaxDecided
}

// CodeReverseExpired (409) refuses a reverse of an order the platform
// paid and then forgot (see the package doc): it must not answer
// "cancelled" for money it took. The terminal's client tells it
// (terminal/facepay ErrReverseExpired).
const CodeReverseExpired = fp.CodeReverseExpired

// Order states.
const (
	stateOpen      = "open" // identified, waiting for the password
	stateApproved  = fp.StatusApproved
	stateCancelled = fp.StatusCancelled
	stateReversed  = fp.StatusReversed
)

type order struct {
	terminal, id string
	amount       int64
	currency     string
	state        string
	session      string
	ident        *Identity
	expires      time.Time
	txnID        string
	decidedAt    time.Time // its last decision (approved, cancelled, reversed)
	// charged and chargedCurrency are what an approval charged: the
	// amount and currency, but for the magic amounts (chargedOf).
	charged         int64
	chargedCurrency string
}

// held is what the platform states it holds o at: what it charged once
// approved (and gave back once reversed), else the order's amount and
// currency (none for an order it never had).
func (o *order) held() (int64, string) {
	if o.txnID != "" {
		return o.charged, o.chargedCurrency
	}
	return o.amount, o.currency
}

// chargedOf is what an approval of amount in currency charges: the
// same, but for the faulty platform of the magic amounts (package doc):
// 66 one minor unit more, 67 the same minor units in another currency.
func chargedOf(amount int64, currency string) (int64, string) {
	switch amount % 100 {
	case 66:
		return amount + 1, currency
	case 67:
		switch currency {
		case "344":
			return amount, "156"
		case "HKD":
			return amount, "CNY"
		case "CNY":
			return amount, "HKD"
		}
		if currency[0] >= '0' && currency[0] <= '9' {
			return amount, "344"
		}
		return amount, "HKD"
	}
	return amount, currency
}

// answer is the answer on o with status: its id, status, platform
// transaction id and what the platform holds it at.
func (o *order) answer(status string) fp.Answer {
	amount, currency := o.held()
	return fp.Answer{OrderID: o.id, Status: status, PlatformTxnID: o.txnID, Amount: amount, Currency: currency}
}

// paidHash is a forgotten paid order: the hash of its key, its terminal.
type paidHash struct {
	h        uint64
	terminal string
}

// decision is an entry of Platform.decided: order o decided at at (an
// entry whose order was decided again later is stale).
type decision struct {
	o  *order
	at time.Time
}

type account struct {
	wrong       int
	lockedUntil time.Time
}

// Platform is the simulator; its ServeHTTP is safe for concurrent use.
type Platform struct {
	o      Opts
	clk    clock.Clock
	log    *slog.Logger
	pubPEM []byte

	jmu sync.Mutex // the journal

	// answers are the answers to the signed requests of the last
	// linksig.Window: a verbatim repeat is answered, not executed.
	answers *linksig.Answers

	mu       sync.Mutex
	orders   map[string]*order // terminal|order id
	sessions map[string]*order
	// cancelled are the held orders cancelled with their session, by
	// session id: a repeated cancel is answered from it.
	cancelled map[string]*order
	// opened are the identifications in the order their sessions were
	// opened, hence expire: one whose session expired unused is
	// forgotten (prune).
	opened []*order
	// decided are the decisions on orders, oldest first: a decided
	// order is forgotten DecidedTTL after its last one, or earlier when
	// more than MaxDecided are held (prune, decide).
	decided []decision
	// paid are the hashes of the forgotten orders that were paid (and
	// not reversed), paidRing the same oldest first with their
	// terminals, at most MaxForgottenPaid; forgot are the terminals one
	// of whose hashes gave way: a reverse of an order of theirs not
	// held is refused (it grows by terminal, not by order).
	paid     map[uint64]struct{}
	paidRing []paidHash
	paidSeed maphash.Seed
	forgot   map[string]bool
	accounts map[string]*account // by identity name
	// ksns are the terminals' windows of spent KSNs (ksnwindow.go), at
	// most KSNDevices a terminal; ksnSpends counts the spends (which
	// window is the least recently used).
	ksns      map[string][]ksnWindow
	ksnSpends uint64
	seq       int
	totals    Totals
}

// New returns a platform.
func New(o Opts) (*Platform, error) {
	if o.Key == nil {
		return nil, errors.New("facepay: no platform key")
	}
	pem, err := faceseal.MarshalPublicKey(o.Key.PublicKey())
	if err != nil {
		return nil, err
	}
	if o.Mode.KSNLen() == 0 {
		return nil, fmt.Errorf("facepay: DUKPT mode %q", o.Mode)
	}
	if len(o.BDK) == 0 {
		return nil, errors.New("facepay: no BDK")
	}
	if o.Limit <= 0 {
		o.Limit = DefaultLimit
	}
	if o.Tries <= 0 {
		o.Tries = DefaultTries
	}
	if o.Tries > fp.MaxTriesLeft+1 {
		// The first wrong password would announce more tries_left than
		// a terminal takes: an unknown outcome to it.
		return nil, fmt.Errorf("facepay: %d tries, at most %d", o.Tries, fp.MaxTriesLeft+1)
	}
	if o.LockFor <= 0 {
		o.LockFor = DefaultLockFor
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.DecidedTTL <= 0 {
		o.DecidedTTL = DefaultDecidedTTL
	}
	if o.MaxDecided <= 0 {
		o.MaxDecided = DefaultMaxDecided
	}
	if o.MaxForgottenPaid <= 0 {
		o.MaxForgottenPaid = DefaultMaxForgottenPaid
	}
	if o.Gallery == nil {
		if o.Gallery, err = DefaultGallery(); err != nil {
			return nil, err
		}
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.MasterKey == nil {
		o.MasterKey = []byte(TestMasterKey)
	}
	p := &Platform{o: o, clk: clock.Or(o.Clock), log: o.Logger, pubPEM: pem, answers: linksig.NewAnswers(linksig.Window, 0, 0),
		orders: map[string]*order{}, sessions: map[string]*order{}, accounts: map[string]*account{}, ksns: map[string][]ksnWindow{},
		forgot: map[string]bool{}, cancelled: map[string]*order{}, paid: map[uint64]struct{}{}, paidSeed: maphash.MakeSeed()}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// PublicKeyPEM is the platform's public key as the terminals pin it.
func (p *Platform) PublicKeyPEM() []byte { return bytes.Clone(p.pubPEM) }

// Totals returns the counters.
func (p *Platform) Totals() Totals {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.totals
}

// Entry is a journal line.
type Entry struct {
	Time          time.Time `json:"time"`
	Op            string    `json:"op"`
	Terminal      string    `json:"terminal,omitempty"`
	OrderID       string    `json:"order_id,omitempty"`
	Session       string    `json:"session,omitempty"`
	Amount        int64     `json:"amount,omitempty"`
	Currency      string    `json:"currency,omitempty"`
	Status        string    `json:"status,omitempty"`
	Code          string    `json:"code,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	TriesLeft     *int      `json:"tries_left,omitempty"`
	PlatformTxnID string    `json:"platform_txn_id,omitempty"`
	Duplicate     bool      `json:"duplicate,omitempty"`
	// Charged and ChargedCurrency: what an approval charged (a reverse
	// gave back), when not the order's amount and currency (the magic
	// amounts).
	Charged         int64  `json:"charged,omitempty"`
	ChargedCurrency string `json:"charged_currency,omitempty"`
	Repeat          bool   `json:"repeat,omitempty"` // a verbatim repeat, answered from memory
	// identify only
	SealedBytes   *int     `json:"sealed_bytes,omitempty"`
	SealedSHA256  string   `json:"sealed_sha256,omitempty"`
	SealedEntropy *float64 `json:"sealed_entropy,omitempty"`
	JPEGInBody    *bool    `json:"jpeg_in_body,omitempty"`
	Masked        string   `json:"masked,omitempty"`
	Distance      *float64 `json:"distance,omitempty"`
	Challenge     string   `json:"challenge,omitempty"`
}

// held journals o's amount and currency, and what was charged (given
// back, once reversed) when not those.
func (e *Entry) held(o *order) {
	e.Amount, e.Currency = o.amount, o.currency
	if o.txnID != "" && (o.charged != o.amount || o.chargedCurrency != o.currency) {
		e.Charged, e.ChargedCurrency = o.charged, o.chargedCurrency
	}
}

func (p *Platform) journal(e *Entry) {
	if p.o.Journal == nil {
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		p.log.Warn("face-pay journal", "err", err)
		return
	}
	b = append(b, '\n')
	p.jmu.Lock()
	defer p.jmu.Unlock()
	if _, err := p.o.Journal.Write(b); err != nil {
		p.log.Warn("face-pay journal", "err", err)
	}
}

// refusal is an answer with a code.
type refusal struct {
	status int
	code   string
	reason string
}

func (r *refusal) Error() string { return r.code + ": " + r.reason }

func badRequest(reason string) *refusal {
	return &refusal{status: http.StatusBadRequest, code: fp.CodeBadRequest, reason: reason}
}

// ServeHTTP implements http.Handler.
func (p *Platform) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	if hr.URL.Path == fp.PathKey {
		if hr.Method != http.MethodGet && hr.Method != http.MethodHead {
			b, _ := json.Marshal(fp.Answer{Code: fp.CodeBadRequest, Reason: "method"})
			p.write(w, http.StatusMethodNotAllowed, b, "")
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(p.pubPEM)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, hr.Body, fp.MaxRequestBody))
	defer clear(body)
	e := &Entry{Time: p.clk.Now().UTC(), Op: strings.TrimPrefix(hr.URL.Path, "/face/v1/")}
	if len(e.Op) > 16 || !fp.ValidID(e.Op) {
		e.Op = "unknown"
	}
	var ref *refusal
	switch {
	case err != nil:
		ref = badRequest("body over the limit")
	case hr.Method != http.MethodPost:
		ref = badRequest("method")
	default:
		terminal, reqSig, ts, aref := p.authenticate(hr, body)
		if aref != nil {
			e.Terminal, ref = safeID(terminal), aref
			break
		}
		key := TerminalKey(p.o.MasterKey, terminal)
		defer clear(key)
		// Executed once: a verbatim repeat gets the first answer.
		ans, repeat, err := p.answers.Do(hr.Context(), terminal, reqSig, ts, p.clk.Now(), func() (linksig.Answer, bool) {
			a, ref := p.execute(terminal, hr.URL.Path, body, e)
			status, b := p.finish(e, a, ref)
			return linksig.Answer{Status: status, Body: b}, true
		})
		if err != nil {
			return // gone while the first copy was executed
		}
		if repeat {
			p.repeated(e, terminal, ans)
		}
		p.write(w, ans.Status, ans.Body, linksig.SignResponse(key, hr.URL.Path, reqSig, ans.Body))
		return
	}
	// Not authenticated: the answer cannot be signed.
	status, b := p.finish(e, fp.Answer{}, ref)
	p.write(w, status, b, "")
}

// execute runs an authenticated request of terminal.
func (p *Platform) execute(terminal, path string, body []byte, e *Entry) (fp.Answer, *refusal) {
	switch path {
	case fp.PathIdentify:
		return p.identify(terminal, body, e)
	case fp.PathConfirm:
		return p.confirm(terminal, body, e)
	case fp.PathCancel:
		return p.cancel(terminal, body, e)
	case fp.PathReverse:
		return p.reverse(terminal, body, e)
	}
	return fp.Answer{}, &refusal{status: http.StatusNotFound, code: fp.CodeBadRequest, reason: "no such operation"}
}

// finish counts and journals a call's answer a, or its refusal ref,
// and returns its HTTP status and body.
func (p *Platform) finish(e *Entry, a fp.Answer, ref *refusal) (int, []byte) {
	status := http.StatusOK
	p.mu.Lock()
	p.totals.Calls++
	if ref != nil {
		switch ref.code {
		case fp.CodeBadRequest:
			p.totals.BadRequest++
		case fp.CodeBadEnvelope:
			p.totals.BadEnvelope++
		case fp.CodeOverLimit:
			p.totals.OverLimit++
		case fp.CodeBadSignature:
			p.totals.BadSignature++
		case fp.CodeKSNReused:
			p.totals.KSNReused++
		}
	}
	p.mu.Unlock()
	if ref != nil {
		status = ref.status
		a = fp.Answer{OrderID: a.OrderID, Session: a.Session, Code: ref.code, Reason: ref.reason}
		e.Code, e.Reason = ref.code, ref.reason
	} else {
		e.Status, e.Reason, e.PlatformTxnID, e.TriesLeft = a.Status, a.Reason, a.PlatformTxnID, a.TriesLeft
	}
	p.journal(e)
	b, _ := json.Marshal(a)
	return status, b
}

// repeated counts and journals a verbatim repeat of terminal's request,
// answered ans from memory.
func (p *Platform) repeated(e *Entry, terminal string, ans linksig.Answer) {
	var a fp.Answer
	_ = json.Unmarshal(ans.Body, &a)
	e.Terminal, e.OrderID, e.Session, e.Masked, e.Repeat = terminal, safeID(a.OrderID), safeSession(a.Session), a.Masked, true
	e.Status, e.Code, e.Reason, e.PlatformTxnID, e.TriesLeft = a.Status, a.Code, a.Reason, a.PlatformTxnID, a.TriesLeft
	p.mu.Lock()
	p.totals.Calls++
	p.totals.Repeats++
	p.mu.Unlock()
	p.journal(e)
}

// authenticate checks a request's signature headers: the terminal id,
// the signature under its key, the timestamp within linksig.Window. It
// returns the terminal, the request's signature (the answer's is bound
// to it) and its timestamp, or the bad_signature refusal.
func (p *Platform) authenticate(hr *http.Request, body []byte) (string, string, time.Time, *refusal) {
	terminal, sig, ts := hr.Header.Get(fp.HeaderTerminal), hr.Header.Get(fp.HeaderSignature), hr.Header.Get(fp.HeaderTimestamp)
	bad := func(reason string) (string, string, time.Time, *refusal) {
		return terminal, "", time.Time{}, &refusal{status: http.StatusUnauthorized, code: fp.CodeBadSignature, reason: reason}
	}
	if !fp.ValidID(terminal) {
		return bad("terminal id")
	}
	key := TerminalKey(p.o.MasterKey, terminal)
	defer clear(key)
	now := p.clk.Now()
	err := linksig.VerifyRequest(key, hr.URL.Path, terminal, ts, sig, body, now, linksig.Window)
	switch {
	case errors.Is(err, linksig.ErrBadSignature):
		return bad("signature")
	case errors.Is(err, linksig.ErrStale):
		return bad("timestamp too far off")
	case err != nil:
		return bad("timestamp")
	}
	t, err := linksig.ParseTimestamp(ts, now, linksig.Window)
	if err != nil {
		return bad("timestamp")
	}
	return terminal, sig, t, nil
}

// write sends an answer's body with its status and, unless empty, its
// signature.
func (p *Platform) write(w http.ResponseWriter, status int, b []byte, sig string) {
	if sig != "" {
		w.Header().Set(fp.HeaderSignature, sig)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// imageSignatures are the starts of pictures: JPEG (SOI + marker), PNG,
// and the JFIF/Exif identifiers with their NUL. Each holds a byte that
// base64 text never does, so ciphertext in base64 cannot spell one.
var imageSignatures = [][]byte{{0xFF, 0xD8, 0xFF}, []byte("\x89PNG"), []byte("JFIF\x00"), []byte("Exif\x00")}

// base64Pictures are the base64 forms of a JPEG's and a PNG's first bytes.
var base64Pictures = []string{"/9j/", "iVBORw0KGgo"}

// pictureIn reports whether raw holds a picture: its binary signature
// anywhere, or its base64 form at the start of a JSON string or after a
// data URL's comma. A base64 picture is looked for only where a value
// starts: four letters in the middle of ciphertext spell "JFIF" about
// once in 16 million positions, and that is not a picture.
func pictureIn(raw []byte) bool {
	for _, s := range imageSignatures {
		if bytes.Contains(raw, s) {
			return true
		}
	}
	for _, s := range base64Pictures {
		if bytes.Contains(raw, []byte(`"`+s)) || bytes.Contains(raw, []byte(`,`+s)) {
			return true
		}
	}
	return false
}

// sealedIsPicture reports whether the decoded sealed field starts like a
// picture rather than an envelope, or holds one right after an envelope's
// header. (Its base64 form in the body is pictureIn's.)
func sealedIsPicture(sealed []byte) bool {
	for _, s := range imageSignatures[:2] {
		if bytes.HasPrefix(sealed, s) || len(sealed) > faceseal.HeaderLen && bytes.HasPrefix(sealed[faceseal.HeaderLen:], s) {
			return true
		}
	}
	return false
}

// Entropy is the Shannon entropy of b's byte histogram in bits per byte:
// about 8 for ciphertext of a few kilobytes, lower for text and most
// uncompressed data.
func Entropy(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	var n [256]int
	for _, c := range b {
		n[c]++
	}
	h := 0.0
	for _, c := range n {
		if c > 0 {
			q := float64(c) / float64(len(b))
			h -= q * math.Log2(q)
		}
	}
	return h
}

func (p *Platform) identify(terminal string, raw []byte, e *Entry) (fp.Answer, *refusal) {
	jpegIn := pictureIn(raw)
	e.JPEGInBody = &jpegIn
	var r fp.IdentifyBody
	err := fp.DecodeStrict(raw, fp.MaxRequestBody, &r)
	defer func() { clear(r.Sealed) }()
	e.Terminal, e.OrderID, e.Amount, e.Currency = safeID(r.TerminalID), safeID(r.OrderID), r.Amount, safeCurrency(r.Currency)
	if err == nil {
		n, sum, ent := len(r.Sealed), sha256.Sum256(r.Sealed), math.Round(Entropy(r.Sealed)*1000)/1000
		e.SealedBytes, e.SealedSHA256, e.SealedEntropy = &n, hex.EncodeToString(sum[:]), &ent
		if sealedIsPicture(r.Sealed) {
			jpegIn = true
		}
	}
	a := fp.Answer{OrderID: e.OrderID}
	switch {
	case err != nil:
		return a, badRequest("body: " + err.Error())
	case jpegIn:
		p.log.Warn("face-pay identify with a picture in the clear refused", "terminal", e.Terminal, "order", e.OrderID)
		return a, badRequest("a picture in the clear: only a sealed crop is accepted")
	case !fp.ValidID(r.TerminalID) || !fp.ValidID(r.OrderID):
		return a, badRequest("terminal or order id")
	case r.TerminalID != terminal:
		return a, badRequest("terminal_id is not the signing terminal")
	case r.Amount <= 0 || !fp.ValidCurrency(r.Currency):
		return a, badRequest("amount or currency")
	case r.ConsentAt.IsZero():
		return a, badRequest("no consent time")
	case len(r.Sealed) == 0 || len(r.Sealed) > fp.MaxSealed:
		return a, &refusal{status: http.StatusBadRequest, code: fp.CodeBadEnvelope, reason: "sealed crop size"}
	case !fp.ValidLiveness(r.Liveness) || !fp.ValidChallenge(r.Challenge):
		return a, badRequest("liveness or challenge")
	}
	e.Challenge = r.Challenge
	p.mu.Lock()
	p.totals.Identifies++
	if o := p.orders[r.TerminalID+"|"+r.OrderID]; o != nil && o.state != stateOpen {
		p.mu.Unlock()
		return a, &refusal{status: http.StatusConflict, code: fp.CodeOrderMismatch, reason: "order " + o.state}
	}
	if _, paid := p.paid[maphash.String(p.paidSeed, r.TerminalID+"|"+r.OrderID)]; paid && p.orders[r.TerminalID+"|"+r.OrderID] == nil {
		p.mu.Unlock()
		return a, &refusal{status: http.StatusConflict, code: fp.CodeOrderMismatch, reason: "order " + stateApproved}
	}
	p.mu.Unlock()
	if r.Amount > p.o.Limit {
		return a, &refusal{status: http.StatusForbidden, code: fp.CodeOverLimit,
			reason: fmt.Sprintf("over the face-pay limit of %d", p.o.Limit)}
	}

	// Open, decode, match, wipe: the crop lives only in this block.
	crop, err := faceseal.Open(p.o.Key, r.Sealed, fp.AAD(r.TerminalID, r.OrderID, r.Amount, r.Currency))
	if err != nil {
		return a, &refusal{status: http.StatusBadRequest, code: fp.CodeBadEnvelope, reason: "the sealed crop does not open"}
	}
	ident, dist, merr := p.match(crop)
	clear(crop)
	if merr != nil {
		return a, merr
	}
	d := math.Round(dist*10000) / 10000
	e.Distance = &d
	now := p.clk.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if ident == nil {
		p.totals.NoMatch++
		return a, &refusal{status: http.StatusNotFound, code: fp.CodeNoMatch, reason: "no enrolled face matched"}
	}
	p.totals.Matches++
	e.Masked = ident.Masked
	if acc := p.accounts[ident.Name]; acc != nil && now.Before(acc.lockedUntil) {
		return a, &refusal{status: http.StatusForbidden, code: fp.CodeLocked, reason: "account locked after wrong passwords"}
	}
	key := r.TerminalID + "|" + r.OrderID
	o := p.orders[key]
	if o != nil && o.state != stateOpen { // decided meanwhile
		return a, &refusal{status: http.StatusConflict, code: fp.CodeOrderMismatch, reason: "order " + o.state}
	}
	if o != nil {
		delete(p.sessions, o.session) // a new identification replaces the open one
	}
	p.prune(now)
	sess, err := p.newSession()
	if err != nil {
		return a, &refusal{status: http.StatusServiceUnavailable, code: fp.CodeBadRequest, reason: "no session id"}
	}
	o = &order{terminal: r.TerminalID, id: r.OrderID, amount: r.Amount, currency: r.Currency, state: stateOpen,
		session: sess, ident: ident, expires: now.Add(p.o.SessionTTL)}
	p.orders[key] = o
	p.sessions[sess] = o
	p.opened = append(p.opened, o)
	e.Session = sess
	// The masked account for the display and the session handle: the
	// account number stays here.
	return fp.Answer{OrderID: r.OrderID, Session: sess, Masked: ident.Masked}, nil
}

// match decodes the crop and finds its enrolled identity (nil: none);
// the decoded pixels are wiped.
func (p *Platform) match(crop []byte) (*Identity, float64, *refusal) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(crop))
	if err != nil {
		return nil, 0, badRequest("the crop is not a JPEG")
	}
	if cfg.Width < 32 || cfg.Height < 32 || cfg.Width > MaxCropSide || cfg.Height > MaxCropSide {
		return nil, 0, badRequest(fmt.Sprintf("crop of %dx%d", cfg.Width, cfg.Height))
	}
	img, err := jpeg.Decode(bytes.NewReader(crop))
	if err != nil {
		return nil, 0, badRequest("the crop is not a JPEG")
	}
	defer wipeImage(img)
	id, dist := p.o.Gallery.Match(img)
	return id, dist, nil
}

// wipeImage zeroes a decoded picture's pixels.
func wipeImage(img image.Image) {
	switch m := img.(type) {
	case *image.YCbCr:
		clear(m.Y)
		clear(m.Cb)
		clear(m.Cr)
	case *image.Gray:
		clear(m.Pix)
	case *image.RGBA:
		clear(m.Pix)
	case *image.NRGBA:
		clear(m.Pix)
	case *image.CMYK:
		clear(m.Pix)
	}
}

// newSession draws a session id; p.mu is held.
func (p *Platform) newSession() (string, error) {
	var b [12]byte
	if _, err := io.ReadFull(p.o.Rand, b[:]); err != nil {
		return "", err
	}
	return "FS" + strings.ToUpper(hex.EncodeToString(b[:])), nil
}

func (p *Platform) confirm(terminal string, raw []byte, e *Entry) (fp.Answer, *refusal) {
	var r fp.ConfirmBody
	err := fp.DecodeStrict(raw, fp.MaxRequestBody, &r)
	e.Terminal, e.OrderID, e.Session = safeID(r.TerminalID), safeID(r.OrderID), safeSession(r.Session)
	a := fp.Answer{OrderID: e.OrderID}
	if err != nil {
		return a, badRequest("body: " + err.Error())
	}
	if !fp.ValidID(r.TerminalID) || !fp.ValidID(r.OrderID) || !fp.ValidSession(r.Session) {
		return a, badRequest("terminal, order or session id")
	}
	if r.TerminalID != terminal {
		return a, badRequest("terminal_id is not the signing terminal")
	}
	if r.Amount <= 0 || !fp.ValidCurrency(r.Currency) {
		return a, badRequest("amount or currency")
	}
	block, err1 := hex.DecodeString(r.PINBlock)
	ksn, err2 := hex.DecodeString(r.KSN)
	defer clear(block)
	if err1 != nil || err2 != nil || len(block) != p.o.Mode.PINBlockLen() || len(ksn) != p.o.Mode.KSNLen() {
		return a, badRequest(fmt.Sprintf("PIN block or KSN not hex of the %s mode's lengths", p.o.Mode))
	}
	device, counter, err := ksnDevice(ksn)
	if err != nil || counter == 0 || dukpt.ValidateKSN(ksn) != nil {
		// An initial KSN, or a counter with more one-bits than DUKPT
		// allows: no device enciphers a PIN under it, so it is no
		// password attempt and spends neither the session nor a try.
		return a, badRequest("KSN is not a DUKPT transaction KSN")
	}
	now := p.clk.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(now)
	p.totals.Confirms++
	if o := p.orders[r.TerminalID+"|"+r.OrderID]; o != nil && o.state == stateApproved && o.session == r.Session &&
		o.amount == r.Amount && o.currency == r.Currency {
		// A repeat of an approved confirm: the same answer, paid once;
		// no PIN block is looked at.
		p.totals.ConfirmRepeats++
		e.Duplicate = true
		e.held(o)
		return o.answer(fp.StatusApproved), nil
	}
	// Every KSN is spent by the confirm that brings it: a PIN block
	// recorded off the wire pays nothing again.
	verdict := p.spendKSN(r.TerminalID, device, counter)
	o := p.sessions[r.Session]
	if o == nil || o.terminal != r.TerminalID || o.state != stateOpen || !now.Before(o.expires) {
		return a, &refusal{status: http.StatusNotFound, code: fp.CodeNoSession, reason: "no open session of that id"}
	}
	if o.id != r.OrderID {
		return a, &refusal{status: http.StatusConflict, code: fp.CodeOrderMismatch, reason: "the session is another order's"}
	}
	// The session takes this one confirm, whatever comes of it.
	e.Amount, e.Currency, e.Masked = o.amount, o.currency, o.ident.Masked
	if o.amount != r.Amount || o.currency != r.Currency {
		p.closeSession(o, stateCancelled, now)
		return a, &refusal{status: http.StatusConflict, code: fp.CodeOrderMismatch, reason: "amount or currency not the session's"}
	}
	if verdict != ksnFresh {
		p.closeSession(o, stateCancelled, now)
		reason := "KSN already used"
		if verdict == ksnTooOld {
			reason = "KSN older than the replay window"
			p.totals.KSNTooOld++
		}
		p.log.Warn("face-pay confirm with a spent KSN refused", "terminal", r.TerminalID, "order", o.id, "why", reason)
		return a, &refusal{status: http.StatusConflict, code: fp.CodeKSNReused, reason: reason}
	}
	acc := p.accounts[o.ident.Name]
	if acc == nil {
		acc = &account{}
		p.accounts[o.ident.Name] = acc
	}
	declined := func(reason string, left int) (fp.Answer, *refusal) {
		a := o.answer(fp.StatusDeclined)
		a.Reason, a.TriesLeft = reason, &left
		return a, nil
	}
	if now.Before(acc.lockedUntil) {
		p.closeSession(o, stateCancelled, now)
		p.totals.Locked++
		return declined(fp.ReasonLocked, 0)
	}
	if !p.passwordOK(o, block, ksn) {
		acc.wrong++
		p.totals.WrongPassword++
		p.closeSession(o, stateCancelled, now)
		if acc.wrong >= p.o.Tries {
			acc.wrong, acc.lockedUntil = 0, now.Add(p.o.LockFor)
			p.totals.Locked++
			p.log.Info("face-pay account locked", "masked", o.ident.Masked, "for", p.o.LockFor)
			return declined(fp.ReasonLocked, 0)
		}
		return declined(fp.ReasonWrongPassword, p.o.Tries-acc.wrong)
	}
	acc.wrong = 0
	if o.txnID != "" {
		p.totals.ApprovedTwice++
	}
	p.seq++
	o.txnID = fmt.Sprintf("FP%012d", p.seq)
	o.charged, o.chargedCurrency = chargedOf(o.amount, o.currency)
	e.held(o)
	p.closeSession(o, stateApproved, now)
	p.totals.Approved++
	return o.answer(fp.StatusApproved), nil
}

// passwordOK decrypts the PIN block under the DUKPT key of ksn, bound to
// the session's PasswordBinding (terminal, session, order, amount), and
// compares it with the identity's password. A block that does not
// decrypt to a PIN (another session, order or amount; damaged) is a
// wrong password.
func (p *Platform) passwordOK(o *order, block, ksn []byte) bool {
	s, err := wiresec.ForHost(p.o.Mode, p.o.BDK, ksn)
	if err != nil {
		return false
	}
	defer s.Wipe()
	pin, err := s.DecryptPIN(block, fp.PasswordBinding(o.terminal, o.session, o.id, o.amount, o.currency))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(pin), []byte(o.ident.Password)) == 1
}

// prune forgets the identifications whose session expired unconfirmed:
// the session, and the order while nothing was decided on it (still
// open, and not identified again since). Forgetting such an order
// changes no answer: a confirm or cancel of its session is no_session
// either way, a reverse of it cancelled, an identify of it opens a new
// session. The decided orders stay DecidedTTL after their last decision
// (a repeated confirm or reverse is answered from them), then are
// forgotten too. p.mu is held.
func (p *Platform) prune(now time.Time) {
	n := 0
	for n < len(p.opened) && !now.Before(p.opened[n].expires) {
		o := p.opened[n]
		p.opened[n] = nil
		n++
		if p.sessions[o.session] == o {
			delete(p.sessions, o.session)
		}
		if key := o.terminal + "|" + o.id; o.state == stateOpen && p.orders[key] == o {
			delete(p.orders, key)
		}
	}
	p.opened = p.opened[n:]
	for len(p.decided) > 0 && now.Sub(p.decided[0].at) >= p.o.DecidedTTL {
		p.forget()
	}
}

// closeSession ends o's session in state, decided at now; p.mu is held.
func (p *Platform) closeSession(o *order, state string, now time.Time) {
	delete(p.sessions, o.session)
	o.state = state
	if state == stateCancelled && o.session != "" {
		p.cancelled[o.session] = o
	}
	p.decide(o, now)
}

// decide records a decision on o at now (it is kept DecidedTTL from
// now), forgetting the oldest decided orders past MaxDecided; p.mu is
// held.
func (p *Platform) decide(o *order, now time.Time) {
	o.decidedAt = now
	p.decided = append(p.decided, decision{o: o, at: now})
	for len(p.decided) > p.o.MaxDecided {
		p.forget()
	}
}

// forget drops the oldest decision, and its order unless it was decided
// again since; p.mu is held.
func (p *Platform) forget() {
	d := p.decided[0]
	p.decided[0] = decision{}
	p.decided = p.decided[1:]
	if !d.o.decidedAt.Equal(d.at) {
		return // stale: the order's later decision has its own entry
	}
	if key := d.o.terminal + "|" + d.o.id; p.orders[key] == d.o {
		delete(p.orders, key)
		if p.cancelled[d.o.session] == d.o {
			delete(p.cancelled, d.o.session)
		}
		p.totals.Forgotten++
		if d.o.state == stateApproved {
			p.forgetPaid(d.o.terminal, key)
		}
	}
}

// forgetPaid keeps the hash of the forgotten paid order key of
// terminal; past MaxForgottenPaid the oldest gives way, and its
// terminal's reverses of orders not held are refused from then on.
// p.mu is held.
func (p *Platform) forgetPaid(terminal, key string) {
	h := maphash.String(p.paidSeed, key)
	p.paid[h] = struct{}{}
	p.paidRing = append(p.paidRing, paidHash{h: h, terminal: terminal})
	for len(p.paidRing) > p.o.MaxForgottenPaid {
		old := p.paidRing[0]
		p.paidRing[0] = paidHash{}
		p.paidRing = p.paidRing[1:]
		delete(p.paid, old.h)
		p.forgot[old.terminal] = true
	}
}

// wasPaid reports whether the order of key (not held) may have been
// paid and forgotten: its hash is kept, or its terminal's hashes
// overflowed. p.mu is held.
func (p *Platform) wasPaid(terminal, key string) bool {
	if p.forgot[terminal] {
		return true
	}
	_, ok := p.paid[maphash.String(p.paidSeed, key)]
	return ok
}

func (p *Platform) cancel(terminal string, raw []byte, e *Entry) (fp.Answer, *refusal) {
	var r fp.CancelBody
	err := fp.DecodeStrict(raw, fp.MaxRequestBody, &r)
	e.Terminal, e.Session = safeID(r.TerminalID), safeSession(r.Session)
	a := fp.Answer{Session: e.Session}
	if err != nil {
		return a, badRequest("body: " + err.Error())
	}
	if !fp.ValidID(r.TerminalID) || !fp.ValidSession(r.Session) {
		return a, badRequest("terminal or session id")
	}
	if r.TerminalID != terminal {
		return a, badRequest("terminal_id is not the signing terminal")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	p.prune(now)
	p.totals.Cancels++
	o := p.sessions[r.Session]
	if o == nil {
		// Already cancelled: the same answer again.
		if c := p.cancelled[r.Session]; c != nil && c.terminal == r.TerminalID && c.state == stateCancelled {
			e.OrderID, e.Duplicate = c.id, true
			return fp.Answer{Session: r.Session, Status: fp.StatusCancelled}, nil
		}
		return a, &refusal{status: http.StatusNotFound, code: fp.CodeNoSession, reason: "no open session of that id"}
	}
	if o.terminal != r.TerminalID {
		return a, &refusal{status: http.StatusNotFound, code: fp.CodeNoSession, reason: "no open session of that id"}
	}
	e.OrderID, e.Amount = o.id, o.amount
	p.closeSession(o, stateCancelled, now)
	return fp.Answer{Session: r.Session, Status: fp.StatusCancelled}, nil
}

// reverse is only ever the signing terminal's: the order is looked up
// under its id, so no other terminal reaches it.
func (p *Platform) reverse(terminal string, raw []byte, e *Entry) (fp.Answer, *refusal) {
	var r fp.ReverseBody
	err := fp.DecodeStrict(raw, fp.MaxRequestBody, &r)
	e.Terminal, e.OrderID = safeID(r.TerminalID), safeID(r.OrderID)
	a := fp.Answer{OrderID: e.OrderID}
	if err != nil {
		return a, badRequest("body: " + err.Error())
	}
	if !fp.ValidID(r.TerminalID) || !fp.ValidID(r.OrderID) {
		return a, badRequest("terminal or order id")
	}
	if r.TerminalID != terminal {
		return a, badRequest("terminal_id is not the signing terminal")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	p.prune(now)
	p.totals.Reverses++
	key := r.TerminalID + "|" + r.OrderID
	o := p.orders[key]
	switch {
	case o == nil && p.wasPaid(r.TerminalID, key):
		// It may be one this platform paid and forgot: it cannot
		// say "cancelled".
		return a, &refusal{status: http.StatusConflict, code: CodeReverseExpired,
			reason: "order not held: older than the platform keeps, or never had"}
	case o == nil:
		// Remember it: a late identify of it is refused.
		o = &order{terminal: r.TerminalID, id: r.OrderID, state: stateCancelled}
		p.orders[key] = o
		p.decide(o, now)
	case o.state == stateApproved:
		o.state = stateReversed
		p.totals.Reversed++
		p.decide(o, now)
	case o.state == stateOpen:
		p.closeSession(o, stateCancelled, now)
	default:
		e.Duplicate = true
	}
	e.held(o)
	return o.answer(o.state), nil
}

// safeID is s when it is a valid id (journaled), else "".
func safeID(s string) string {
	if fp.ValidID(s) {
		return s
	}
	return ""
}

func safeSession(s string) string {
	if fp.ValidSession(s) {
		return s
	}
	return ""
}

func safeCurrency(s string) string {
	if fp.ValidCurrency(s) {
		return s
	}
	return ""
}
