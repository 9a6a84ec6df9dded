package host

import (
	"fmt"
	"sort"

	"github.com/moov-io/iso8583"
)

// marshal packs a typed message struct into a new message of spec and
// checks that every field packs. Errors match ErrInvalidRequest and name
// the field, never its value (the library's error stays their cause).
func marshal(spec *iso8583.MessageSpec, v any) (*iso8583.Message, error) {
	m := iso8583.NewMessage(spec)
	if err := m.Marshal(v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "a field does not take its value"))
	}
	fields := m.GetFields()
	ids := make([]int, 0, len(fields))
	for id := range fields {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		if _, err := fields[id].Pack(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "field %d does not pack", id))
		}
	}
	if _, err := m.Pack(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "message does not pack"))
	}
	return m, nil
}

// unmarshal reads a message into a typed message struct. Errors match
// ErrMalformed.
func unmarshal(m *iso8583.Message, v any) error {
	if err := m.Unmarshal(v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, safe(err, "fields do not read"))
	}
	return nil
}

// financialFields formats and checks DE4, DE49 and DE22 of a financial
// request. A balance inquiry has no amount: DE4 stays empty (absent) and
// Amount must be 0.
func financialFields(r *Request) (amount, currency, entry string, err error) {
	if r.Kind == KindBalance {
		if r.Amount != 0 {
			return "", "", "", fmt.Errorf("%w: a balance inquiry has no amount", ErrInvalidRequest)
		}
	} else if amount, err = fmtNum(r.Amount, 12, "amount"); err != nil {
		return "", "", "", err
	}
	if !isDigits(r.Currency, 3) {
		return "", "", "", fmt.Errorf("%w: currency must be 3 digits", ErrInvalidRequest)
	}
	entry = r.EntryMode
	if entry == "" {
		entry = "000"
	}
	if !isDigits(entry, 3) {
		return "", "", "", fmt.Errorf("%w: entry mode must be 3 digits", ErrInvalidRequest)
	}
	if err := checkCardFields(r); err != nil {
		return "", "", "", fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	return amount, r.Currency, entry, nil
}

// checkCardFields checks DE52 and DE55 of a financial request: a PIN block
// as long as the DUKPT mode of the request's KSN makes it (8 bytes TDES
// format 0, 16 bytes AES format 4; it is encrypted under the PIN key of
// that same KSN), and ICC data that is well-formed BER-TLV without clear
// card data. Its errors carry no class.
func checkCardFields(r *Request) error {
	if len(r.PINBlock) > 0 {
		mode := r.Mode
		if mode == "" {
			mode = modeOfKSN(r.KSN)
		}
		if len(r.PINBlock) != mode.PINBlockLen() {
			return fmt.Errorf("PIN block of %d bytes does not fit the DUKPT mode of the KSN", len(r.PINBlock))
		}
	}
	return checkRequestICC(r.ICC)
}

// decodeFinancial reads DE11 and DE4 of a financial request and checks its
// PIN block and ICC data (checkCardFields).
func decodeFinancial(r *Request, stan, amount string) error {
	s, err := parseNum(stan, 6, "STAN")
	if err != nil {
		return err
	}
	r.STAN = uint32(s)
	if r.Kind == KindBalance {
		if amount != "" {
			return fmt.Errorf("%w: amount in a balance inquiry", ErrMalformed)
		}
	} else if r.Amount, err = ParseAmount(amount); err != nil {
		return err
	}
	if err := checkCardFields(r); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// responseICC checks the DE55 of a response to a request of kind k: only
// the answer to a card-present request (a purchase, refund,
// pre-authorization or balance inquiry) carries one, and it must read as
// IssuerData. Its errors carry no class.
func responseICC(k Kind, icc []byte) error {
	if len(icc) == 0 {
		return nil
	}
	if !cardPresent(k) {
		return fmt.Errorf("ICC data in a %s response", k)
	}
	_, err := parseIssuerData(icc)
	return err
}

// decodeResponseNumbers reads DE11 and, when present, DE4 of a response and
// checks the response code and the printable fields.
func decodeResponseNumbers(r *Response, stan, amount string) error {
	s, err := parseNum(stan, 6, "STAN")
	if err != nil {
		return err
	}
	r.STAN = uint32(s)
	if amount != "" {
		if r.Amount, err = ParseAmount(amount); err != nil {
			return err
		}
		r.HasAmount = true
	}
	if len(r.ResponseCode) != 2 || !isAlnum(r.ResponseCode) {
		return fmt.Errorf("%w: response code missing or invalid", ErrMalformed)
	}
	if !isPrintable(r.AuthCode) || !isPrintable(r.RRN) || !isPrintable(r.TerminalID) {
		return fmt.Errorf("%w: auth code, RRN or terminal id not printable", ErrMalformed)
	}
	return nil
}
