package wiresec

import "testing"

// The terminal's wire security for one message: the session of a KSN (all
// working keys) from the transaction key the originator returned, then the
// encrypted track 2 of the request.
func BenchmarkTerminalRequestData(b *testing.B) {
	track := []byte("4761739001010010=25122011143804400000")
	for _, mode := range []Mode{ModeTDES, ModeAES} {
		b.Run(string(mode), func(b *testing.B) {
			p := terminalKeys(b, mode, 1)[0]
			b.ReportAllocs()
			for b.Loop() {
				s, err := ForTerminal(mode, p.ksn, p.key)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.EncryptRequestData(track); err != nil {
					b.Fatal(err)
				}
				s.Wipe()
			}
		})
	}
}
