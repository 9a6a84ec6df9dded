package emv

import "fmt"

// MonthYear is a certificate expiration date as certificates carry it:
// MMYY in BCD (format n 4). A certificate is valid to the end of that
// month.
type MonthYear [2]byte

// Valid reports whether d is BCD with a month 01 to 12.
func (d MonthYear) Valid() bool {
	m, okM := bcd2(d[0])
	_, okY := bcd2(d[1])
	return okM && okY && m >= 1 && m <= 12
}

// Month returns the month, 1 to 12 when d is valid.
func (d MonthYear) Month() int {
	m, _ := bcd2(d[0])
	return m
}

// Year returns the four-digit year: YY 00 to 49 are 2000 to 2049, 50 to
// 99 are 1950 to 1999, the EMV convention for two-digit years.
func (d MonthYear) Year() int {
	y, _ := bcd2(d[1])
	return fullYear(y)
}

// String prints MM/YY, or the hex of an invalid date.
func (d MonthYear) String() string {
	if !d.Valid() {
		return fmt.Sprintf("%02X%02X", d[0], d[1])
	}
	return fmt.Sprintf("%02X/%02X", d[0], d[1])
}

// ExpiredOn reports whether a certificate that expires at the end of month
// d has expired on txnDate, the transaction date (tag 9A: YYMMDD, BCD,
// 3 bytes): book 2 steps "the last day of the month of the certificate
// expiration date is equal to or later than today's date". ErrDate when
// either date is not valid BCD.
func (d MonthYear) ExpiredOn(txnDate []byte) (bool, error) {
	if !d.Valid() {
		return false, fmt.Errorf("%w: certificate expiry %v", ErrDate, d)
	}
	y, m, ok := txnYearMonth(txnDate)
	if !ok {
		return false, fmt.Errorf("%w: transaction date is not YYMMDD", ErrDate)
	}
	return d.Year()*12+d.Month() < y*12+m, nil
}

func txnYearMonth(b []byte) (year, month int, ok bool) {
	if len(b) != 3 {
		return 0, 0, false
	}
	yy, ok1 := bcd2(b[0])
	mm, ok2 := bcd2(b[1])
	dd, ok3 := bcd2(b[2])
	if !ok1 || !ok2 || !ok3 || mm < 1 || mm > 12 || dd < 1 || dd > 31 {
		return 0, 0, false
	}
	return fullYear(yy), mm, true
}

func bcd2(b byte) (int, bool) {
	hi, lo := b>>4, b&0x0F
	if hi > 9 || lo > 9 {
		return 0, false
	}
	return int(hi)*10 + int(lo), true
}

func fullYear(yy int) int {
	if yy < 50 {
		return 2000 + yy
	}
	return 1900 + yy
}
