package host

import "fmt"

// DE54, additional amounts (ISO 8583:1987 an..120 LLLVAR), carries the
// available balance of a balance inquiry's answer as one or more 20
// character entries: account type n2, amount type n2 ("02" available
// balance), currency n3 (ISO 4217 numeric), sign "C" (credit: the amount
// is the customer's) or "D" (debit: owed), amount n12 in minor units.
const (
	balanceEntryLen = 20
	maxBalanceLen   = 120
	// AmountAvailable is the amount type of the available balance.
	AmountAvailable = "02"
	// posd's answers name no account type.
	accountUnspecified = "00"
)

// fmtBalance gives DE54 with the available balance amount in currency.
func fmtBalance(amount int64, currency string) (string, error) {
	if !isDigits(currency, 3) {
		return "", fmt.Errorf("%w: balance currency must be 3 digits", ErrInvalidRequest)
	}
	sign, abs := "C", amount
	if amount < 0 {
		sign, abs = "D", -amount
	}
	n, err := fmtNum(abs, 12, "balance")
	if err != nil {
		return "", err
	}
	return accountUnspecified + AmountAvailable + currency + sign + n, nil
}

// parseBalance reads DE54: every entry must be well formed; the first one
// of amount type AmountAvailable gives the balance. ok is false when DE54
// is absent or names no available balance. Errors match ErrMalformed and
// quote nothing of the field.
func parseBalance(de54 string) (amount int64, currency string, ok bool, err error) {
	if de54 == "" {
		return 0, "", false, nil
	}
	if len(de54)%balanceEntryLen != 0 || len(de54) > maxBalanceLen {
		return 0, "", false, fmt.Errorf("%w: field 54 is not a list of 20-character amounts", ErrMalformed)
	}
	for i := 0; i < len(de54); i += balanceEntryLen {
		e := de54[i : i+balanceEntryLen]
		if !isDigits(e[:7], 7) || (e[7] != 'C' && e[7] != 'D') || !isDigits(e[8:], 12) {
			return 0, "", false, fmt.Errorf("%w: field 54 entry %d", ErrMalformed, i/balanceEntryLen+1)
		}
		if ok || e[2:4] != AmountAvailable {
			continue
		}
		v, err := parseNum(e[8:], 12, "balance")
		if err != nil {
			return 0, "", false, err
		}
		if e[7] == 'D' {
			v = -v
		}
		amount, currency, ok = v, e[4:7], true
	}
	return amount, currency, ok, nil
}
