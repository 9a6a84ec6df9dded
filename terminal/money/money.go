// Package money converts between what the cashier types ("12.34", "CNY")
// and what the terminal stores and sends (minor units, ISO 4217 numeric
// codes).
package money

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrCurrency: not a currency this terminal knows.
var ErrCurrency = errors.New("money: unknown currency")

// ErrAmount: not a valid amount for the currency.
var ErrAmount = errors.New("money: invalid amount")

// Currency is an ISO 4217 currency.
type Currency struct {
	Alpha    string
	Numeric  string
	Exponent int
}

var currencies = []Currency{
	{"CNY", "156", 2}, {"HKD", "344", 2}, {"MOP", "446", 2}, {"TWD", "901", 2},
	{"USD", "840", 2}, {"EUR", "978", 2}, {"GBP", "826", 2}, {"SGD", "702", 2},
	{"JPY", "392", 0}, {"KRW", "410", 0},
}

// Lookup finds a currency by alphabetic or numeric code.
func Lookup(code string) (Currency, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	for _, c := range currencies {
		if c.Alpha == code || c.Numeric == code {
			return c, nil
		}
	}
	return Currency{}, fmt.Errorf("%w: %q", ErrCurrency, code)
}

// Parse reads a decimal amount ("12.34", "12", "0.5") in c's major unit
// and returns minor units. It refuses more decimals than the currency has,
// signs, exponents and amounts over 12 digits (ISO 8583 DE4).
func (c Currency) Parse(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || len(frac) > c.Exponent || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%w: %q", ErrAmount, s)
	}
	frac += strings.Repeat("0", c.Exponent-len(frac))
	all := strings.TrimLeft(whole+frac, "0")
	if len(all) > 12 {
		return 0, fmt.Errorf("%w: %q is too large", ErrAmount, s)
	}
	if all == "" {
		return 0, nil
	}
	return strconv.ParseInt(all, 10, 64)
}

// Format writes minor units in the major unit, e.g. 1234 -> "12.34".
func (c Currency) Format(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	s := strconv.FormatInt(minor, 10)
	if c.Exponent == 0 {
		return sign + s
	}
	if len(s) <= c.Exponent {
		s = strings.Repeat("0", c.Exponent-len(s)+1) + s
	}
	return sign + s[:len(s)-c.Exponent] + "." + s[len(s)-c.Exponent:]
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
