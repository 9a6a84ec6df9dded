package daemon

import (
	"fmt"
	"slices"
	"strings"

	"posd/terminal/dukptkeys"
)

// ksnGroups writes a KSN (or a KSN base), hex, in groups of four joined by
// dots: "1234.5678.9012.3456.0000.0000". The log's card number filter
// (terminal/redact) masks every run of 12 or more digits, and groups
// joined by a space or a dash that make a card number; an AES KSN whose
// key ID is all digits is such a run, and the engineer reading the log
// lost the KSN the key custodian needs. Dots make neither. A KSN is not
// secret (every request carries it in the clear); a key is never logged.
func ksnGroups(ksn string) string {
	var b strings.Builder
	for i := 0; i < len(ksn); i += 4 {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(ksn[i:min(i+4, len(ksn))])
	}
	return b.String()
}

// usedKSNs says which KSNs the mark m records as used in slot, for the
// log of a lost DUKPT state: "KSN base 1234.5678.9012.3456.0000.0000 used
// up to counter 7" (bases sorted; "" when the mark cannot be read or
// records none).
func usedKSNs(m dukptkeys.Mark, slot string) string {
	if m == nil {
		return ""
	}
	used, err := m.Load(slot)
	if err != nil {
		return ""
	}
	var out []string
	for base, c := range used {
		out = append(out, fmt.Sprintf("KSN base %s used up to counter %d", ksnGroups(base), c))
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}
