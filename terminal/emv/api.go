package emv

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
	"time"

	"posd/conn/clock"
)

// Interface is how the card talks to the terminal.
type Interface int

const (
	// Contact is the chip reader (ISO 7816-3, T=0 or T=1).
	Contact Interface = iota + 1
	// Contactless is the NFC reader (ISO 14443-4).
	Contactless
)

// String returns "contact" or "contactless".
func (i Interface) String() string {
	switch i {
	case Contact:
		return "contact"
	case Contactless:
		return "contactless"
	}
	return "unknown"
}

// Transaction types (tag 9C, the first two digits of ISO 8583 DE3).
const (
	TypePurchase byte = 0x00
	TypeCash     byte = 0x01
	TypeCashback byte = 0x09
	TypeRefund   byte = 0x20
	TypeBalance  byte = 0x30
)

// Txn is the transaction the kernel runs.
type Txn struct {
	// Amount and OtherAmount (cashback) in minor units of Currency.
	Amount, OtherAmount int64
	// Currency is the ISO 4217 numeric code, e.g. "156"; empty means the
	// configuration's default currency.
	Currency string
	// Type is the transaction type (9C): TypePurchase, TypeRefund, ...
	Type byte
	// Date is the transaction date and time (9A, 9F21); zero means the
	// kernel's clock.
	Date time.Time
	// ForceOnline is the merchant forcing the transaction online (TVR
	// byte 4 bit 4).
	ForceOnline bool
	// HostReachable is false when the terminal knows up front it cannot go
	// online: terminal action analysis then uses the default action codes
	// at the first GENERATE AC.
	HostReachable bool
	// SequenceCounter is the transaction sequence counter (9F41).
	SequenceCounter uint32
}

// Candidate is an application offered to the cardholder.
type Candidate struct {
	AID []byte
	// Label is the application preferred name when the card's code table
	// is supported, else the application label.
	Label string
	// Priority is the card's priority (1 highest, 0 none).
	Priority int
	// ConfirmationRequired: the card asks for the cardholder's
	// confirmation before this application is used.
	ConfirmationRequired bool
}

// AIDHex returns the AID in upper-case hex.
func (c Candidate) AIDHex() string { return strings.ToUpper(hex.EncodeToString(c.AID)) }

// Message is a prompt the kernel asks the caller to show.
type Message int

// Messages (EMV book 4 standard messages and Book A UI requests).
const (
	MsgNone              Message = iota
	MsgRemoveCard                // card read OK, remove card
	MsgSeePhone                  // see phone for instructions
	MsgInsertOrSwipe             // insert, swipe or try another card
	MsgPINOK                     // offline PIN verified
	MsgIncorrectPIN              // incorrect PIN, try again
	MsgLastPINTry                // last PIN try
	MsgPINBlocked                // PIN try limit exceeded
	MsgProcessing                // processing, do not remove the card
	MsgApproved                  // approved
	MsgDeclined                  // declined
	MsgNotAccepted               // card or application not accepted
	MsgTryAgain                  // try again (select another application)
	MsgPresentCardAgain          // present card again
	MsgSignatureRequired         // signature required on the receipt
)

var messageNames = [...]string{"none", "remove card", "see phone", "insert or swipe", "PIN OK",
	"incorrect PIN", "last PIN try", "PIN blocked", "processing", "approved", "declined",
	"not accepted", "try again", "present card again", "signature required"}

// String names the message in English.
func (m Message) String() string {
	if m >= 0 && int(m) < len(messageNames) {
		return messageNames[m]
	}
	return "unknown"
}

// OfflinePINRequest asks the PIN pad for an offline PIN.
type OfflinePINRequest struct {
	// TriesLeft is the card's PIN try counter, -1 when the card did not
	// tell.
	TriesLeft int
	// LastTry is true when one try is left.
	LastTry bool
	// Enciphered: the kernel enciphers the block for the card (RSA).
	Enciphered bool
}

// UI is the cardholder side the caller implements: display and PIN pad.
type UI interface {
	// Select lets the cardholder choose among candidates (or confirm the
	// only one); it returns the index chosen or an error (cancelled).
	Select(ctx context.Context, c []Candidate) (int, error)
	// Message shows a prompt.
	Message(ctx context.Context, m Message)
	// OfflinePIN returns the plaintext PIN block of book 3 section 6.5.12
	// (format 2: 2N, the PIN digits, F padding; 8 bytes) built by the PIN
	// pad. The kernel wipes the buffer after VERIFY. ErrPINBypass skips
	// PIN entry; another error cancels the transaction.
	OfflinePIN(ctx context.Context, r OfflinePINRequest) ([]byte, error)
}

// OnlinePINEntry is an optional extension of UI: when the UI implements
// it, the kernel calls OnlinePIN when the CVM list selects enciphered
// online PIN, during cardholder verification. The caller captures the PIN
// into its own (DUKPT) PIN block; the kernel never sees it. ErrPINBypass
// means the cardholder bypassed PIN entry. Without it, the kernel assumes
// the caller will capture the PIN after Start.
type OnlinePINEntry interface {
	OnlinePIN(ctx context.Context) error
}

// Outcome is where a kernel run ended.
type Outcome int

// Outcomes. Start ends in one of the first six; Complete turns an online
// request into Approved or Declined.
const (
	OutcomeNone                Outcome = iota
	OutcomeApprovedOffline             // TC at the first GENERATE AC (or in the contactless GPO)
	OutcomeDeclinedOffline             // AAC at the first GENERATE AC, or the kernel declined
	OutcomeOnlineRequest               // ARQC: send OnlineData to the host, then Complete
	OutcomeTryAnotherInterface         // contactless: insert or swipe instead
	OutcomeEndApplication              // the transaction cannot go on; see Reason and the error
	OutcomeSelectNext                  // the selected application refused: Start selects the next one itself
	OutcomeApproved                    // after Complete: approved (TC at the second GENERATE AC, or the host's approval for contactless)
	OutcomeDeclined                    // after Complete: declined by the host or the card
)

var outcomeNames = [...]string{"none", "approved_offline", "declined_offline", "online_request",
	"try_another_interface", "end_application", "select_next", "approved", "declined"}

// String is the outcome's name as posctl prints it.
func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Reason tells why a transaction ended with OutcomeEndApplication (or why
// the kernel declined or asked for another interface).
type Reason int

// Reasons.
const (
	ReasonNone              Reason = iota
	ReasonCardRemoved              // card left the field or slot, or the transport failed
	ReasonCardBlocked              // SELECT answered 6A81
	ReasonAppBlocked               // every matching application is blocked
	ReasonNoApplication            // no application the terminal and the card share
	ReasonCardError                // malformed data, missing mandatory data or an unexpected status word
	ReasonCancelled                // the cardholder or the caller cancelled
	ReasonServiceNotAllowed        // the card said "service not allowed"
	ReasonOverLimit                // contactless: amount at or above the transaction limit
	ReasonSeePhone                 // contactless: the device asks the cardholder to look at it
	ReasonODAFailed                // contactless: offline data authentication failed
	ReasonCVMFailed                // contactless: no usable CVM for a CVM-required transaction
	ReasonInterface                // the card asked for another interface
	ReasonExpired                  // contactless: expired application on an offline approval
	ReasonCDAFailed                // CDA signature of a GENERATE AC failed
	ReasonUnexpectedTC             // contactless: the card approved offline (TC) when the reader required online
)

var reasonNames = [...]string{"", "card_removed", "card_blocked", "application_blocked",
	"no_application", "card_error", "cancelled", "service_not_allowed", "over_limit",
	"see_phone", "oda_failed", "cvm_failed", "try_another_interface", "expired", "cda_failed",
	"tc_when_online_required"}

// String is the reason's code as posctl prints it.
func (r Reason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// CryptogramType is the kind of application cryptogram (9F27 bits 8-7).
type CryptogramType int

// Cryptogram types.
const (
	CryptogramNone CryptogramType = iota
	AAC
	TC
	ARQC
)

// String returns "AAC", "TC", "ARQC" or "".
func (c CryptogramType) String() string {
	switch c {
	case AAC:
		return "AAC"
	case TC:
		return "TC"
	case ARQC:
		return "ARQC"
	}
	return ""
}

// CVMMethod is the cardholder verification the transaction used.
type CVMMethod int

// CVM methods.
const (
	CVMNone            CVMMethod = iota // no CVM required, or none performed
	CVMOnlinePIN                        // enciphered PIN verified online: the caller captures it
	CVMOfflinePlainPIN                  // plaintext PIN verified by the card
	CVMOfflineEncPIN                    // enciphered PIN verified by the card
	CVMSignature                        // paper signature
	CVMCDCVM                            // consumer device CVM (phone, watch)
	CVMFailed                           // cardholder verification failed
)

var cvmNames = [...]string{"none", "online_pin", "offline_plain_pin", "offline_enciphered_pin",
	"signature", "cdcvm", "failed"}

// String is the method's name.
func (m CVMMethod) String() string {
	if m >= 0 && int(m) < len(cvmNames) {
		return cvmNames[m]
	}
	return "unknown"
}

// CVMResult is the outcome of cardholder verification.
type CVMResult struct {
	Method CVMMethod
	// Signature: a signature is required too (CVM codes 03 and 05, or a
	// contactless card asking for one).
	Signature bool
	// Results is the CVM Results (9F34): method code, condition, result.
	Results [3]byte
}

// CardData is the card's account data. PAN and Track2Equivalent are
// sensitive: never log or store them; call Wipe when done.
type CardData struct {
	PAN              string // 5A (or from 57), digits
	PANSequence      string // 5F34, two digits, "" when absent
	Expiry           string // 5F24 as YYMMDD
	Track2Equivalent []byte // 57 as read
	ServiceCode      string // 5F30, or from 57
}

// Wipe clears the sensitive fields.
func (c *CardData) Wipe() {
	for i := range c.Track2Equivalent {
		c.Track2Equivalent[i] = 0
	}
	*c = CardData{}
}

// MaskedPAN returns the PAN with all but the first 6 and last 4 digits
// masked.
func (c *CardData) MaskedPAN() string { return maskPAN(c.PAN) }

// Summary is what the sale record keeps: nothing sensitive.
type Summary struct {
	AID            string         `json:"aid"`
	Label          string         `json:"label"`
	TVR            string         `json:"tvr"`
	TSI            string         `json:"tsi"`
	CryptogramType CryptogramType `json:"-"`
	Cryptogram     string         `json:"cryptogram_type"`
	CVMResults     string         `json:"cvm_results"`
	CVM            string         `json:"cvm"`
	ATC            uint16         `json:"atc"`
	Kernel         int            `json:"kernel"`
	Interface      string         `json:"interface"`
	Outcome        string         `json:"outcome"`
	Reason         string         `json:"reason,omitempty"`
}

// HostResponse is the issuer's answer to an online request.
type HostResponse struct {
	// Responded is false when no usable answer came (timeout, bad MAC):
	// the kernel then runs "unable to go online".
	Responded bool
	// Approved is the host's decision.
	Approved bool
	// ARC is the authorisation response code (8A), two ASCII characters
	// such as "00" or "05".
	ARC [2]byte
	// IssuerAuthData is tag 91's value (ARPC and its data), nil if none.
	IssuerAuthData []byte
	// Scripts71 and Scripts72 are whole issuer script templates (tag 71 or
	// 72 with their length), run before and after the second GENERATE AC.
	Scripts71, Scripts72 [][]byte
}

// Opts are the kernel's sources of time, randomness and logs.
type Opts struct {
	// Clock gives the transaction date when Txn.Date is zero; nil is the
	// wall clock.
	Clock clock.Clock
	// Rand gives unpredictable numbers, random transaction selection and
	// the random padding of enciphered PINs; nil is crypto/rand. The kernel
	// serialises its reads, so a source that is not safe for concurrent use
	// may be given.
	Rand io.Reader
	// Logger receives debug lines with card data masked or dropped; nil
	// discards.
	Logger *slog.Logger
}
