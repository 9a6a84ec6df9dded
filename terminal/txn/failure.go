package txn

import (
	"errors"

	"posd/terminal/host"
	"posd/terminal/pin"
)

// Failure is why a transaction ended failed, as a code the display, the
// API and later the console decide on (never its error text). Records
// keep it in store.Txn.Failure; the error text beside it is for the field
// engineer.
type Failure string

// Failure codes.
const (
	FailNoCard          Failure = "no_card"           // no card presented before the card timeout
	FailCancelled       Failure = "cancelled"         // the cashier cancelled while the sale waited for a card
	FailCardRead        Failure = "card_read_error"   // the card (or the reader) could not be read
	FailCardExpired     Failure = "card_expired"      // the card's expiry date has passed
	FailHostUnreachable Failure = "host_unreachable"  // no connection to the acquirer; nothing was sent
	FailKeys            Failure = "keys_unavailable"  // no DUKPT key: the terminal needs service
	FailShutdown        Failure = "shutdown"          // the terminal shut down while the sale waited for a card
	FailInterrupted     Failure = "interrupted"       // the terminal restarted before a card was read
	FailInternal        Failure = "internal_error"    // the terminal could not record the sale
	FailRisk            Failure = "risk_refused"      // a risk rule refused the sale (the record's risk_rule names it)
	FailPINCancelled    Failure = "pin_cancelled"     // the customer cancelled on the PIN pad
	FailPINTimeout      Failure = "pin_timeout"       // the PIN entry timed out (digits typed or not)
	FailPINUnavailable  Failure = "pin_unavailable"   // a PIN was needed and the PIN pad failed or is missing
	FailCardRemoved     Failure = "card_removed"      // the chip card left before the terminal was done with it
	FailCardNotAccepted Failure = "card_not_accepted" // the chip has no application this terminal takes, it is blocked, or the customer chose none
	FailOriginal        Failure = "original_unusable" // the void's or completion's original changed before the request left
	FailWrongCard       Failure = "wrong_card"        // a refund's card is not the one that paid its sale; nothing was sent
	FailNoResponse      Failure = "no_response"       // a balance inquiry or a batch close got no usable answer (nothing to reverse)
	FailSettlement      Failure = "settlement_failed" // the host did not take the batch's totals; the batch stays open
	FailNotPaymentCode  Failure = "not_payment_code"  // the code shown is no wallet payment code; nothing was sent
	FailWallet          Failure = "wallet_failed"     // the wallet platform did not take the payment (or the refund)
	FailFaceUnavailable Failure = "face_unavailable"  // face pay could not run: no camera, keypad or platform key, or a device failed
	FailFaceNoConsent   Failure = "face_no_consent"   // the customer did not consent (Cancel, or no Enter in time); no frame was read
	FailFaceSpoof       Failure = "face_spoof"        // the liveness check saw a presentation attack (reasons in the record)
	FailFaceRetry       Failure = "face_retry"        // not one live face in view with enough evidence (two faces, poor quality, no challenge done)
	FailFaceNoMatch     Failure = "face_no_match"     // the face-pay platform matched no enrolled account
	FailFacePlatform    Failure = "face_platform"     // the face-pay platform refused or could not be reached before the password
	FailSettleAgain     Failure = "settle_again"      // a payment code for the acquirer while the batch's last close got no answer (cup): nothing was sent
	// FailWalletUnreachable: no connection to the wallet platform could be
	// made (wallet.ErrNotSent): nothing reached it, nothing is to cancel.
	FailWalletUnreachable Failure = "wallet_unreachable"
	// FailWalletUnknown is not an end: a wallet refund whose outcome the
	// platform has not told yet (the record stays auth_sent while the
	// terminal asks again); the sale is not refunded again meanwhile.
	FailWalletUnknown Failure = "wallet_unknown"
)

// Failures lists every code, for the tables that must cover them all
// (display texts).
var Failures = []Failure{FailNoCard, FailCancelled, FailCardRead, FailCardExpired, FailHostUnreachable,
	FailKeys, FailShutdown, FailInterrupted, FailInternal, FailRisk, FailPINCancelled, FailPINTimeout, FailPINUnavailable,
	FailCardRemoved, FailCardNotAccepted, FailOriginal, FailWrongCard, FailNoResponse, FailSettlement, FailNotPaymentCode, FailWallet,
	FailFaceUnavailable, FailFaceNoConsent, FailFaceSpoof, FailFaceRetry, FailFaceNoMatch, FailFacePlatform, FailWalletUnknown, FailSettleAgain,
	FailWalletUnreachable}

// failureOf classifies an error of a sale, once, with errors.Is.
func failureOf(err error) Failure {
	switch {
	case errors.Is(err, ErrShutdown):
		return FailShutdown
	case errors.Is(err, ErrCancelled):
		return FailCancelled
	case errors.Is(err, ErrNoCard):
		return FailNoCard
	case errors.Is(err, ErrCardRead), errors.Is(err, ErrUnreadable):
		return FailCardRead
	case errors.Is(err, ErrCardExpired):
		return FailCardExpired
	case errors.Is(err, host.ErrUnreachable):
		return FailHostUnreachable
	case errors.Is(err, ErrKeys):
		return FailKeys
	case errors.Is(err, ErrRisk):
		return FailRisk
	case errors.Is(err, pin.ErrCancelled):
		return FailPINCancelled
	case errors.Is(err, pin.ErrTimeout):
		return FailPINTimeout
	case errors.Is(err, ErrPIN):
		return FailPINUnavailable
	case errors.Is(err, ErrCardRemoved):
		return FailCardRemoved
	case errors.Is(err, ErrCardNotAccepted):
		return FailCardNotAccepted
	case errors.Is(err, ErrOriginal):
		return FailOriginal
	case errors.Is(err, ErrWrongCard):
		return FailWrongCard
	case errors.Is(err, ErrNoResponse):
		return FailNoResponse
	case errors.Is(err, ErrSettlement), errors.Is(err, ErrPending):
		return FailSettlement
	case errors.Is(err, ErrNotPaymentCode):
		return FailNotPaymentCode
	case errors.Is(err, ErrWallet):
		return FailWallet
	case errors.Is(err, ErrSettleAgain):
		return FailSettleAgain
	}
	return FailInternal
}
