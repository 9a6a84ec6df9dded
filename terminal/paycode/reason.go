package paycode

import "fmt"

// unknown builds a KindUnknown Code. Its arguments are lengths, limits
// and kinds: never the scanned text.
func unknown(format string, args ...any) Code {
	return Code{Kind: KindUnknown, Reason: fmt.Sprintf(format, args...)}
}
