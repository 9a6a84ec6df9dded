package emv

import (
	"errors"
	"testing"

	cemv "posd/crypto/emv"
)

func cvmList(rules string) []byte { return h("00002710 00004E20 " + rules) } // X = 100.00, Y = 200.00

func TestContactCVM(t *testing.T) {
	withPTC := func(n int) func(*testCard, *testApp) { return func(_ *testCard, a *testApp) { a.ptc = n } }
	runCases(t, []contactCase{
		{name: "offline plaintext PIN", opts: cardOpts{cvmList: cvmList("0100")}, cvm: "010002", method: CVMOfflinePlainPIN,
			outcome: OutcomeApprovedOffline, tsi: "E800"},
		{name: "offline PIN wrong then right", opts: cardOpts{cvmList: cvmList("0100")}, ui: &testUI{pins: [][]byte{wrongPIN, rightPIN}},
			cvm: "010002", method: CVMOfflinePlainPIN, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, _ *testCard, ui *testUI) {
				if len(ui.pinReqs) != 2 || ui.pinReqs[0].TriesLeft != 3 || ui.pinReqs[1].TriesLeft != 2 || !ui.saw(MsgIncorrectPIN) {
					t.Errorf("PIN prompts %+v, messages %v", ui.pinReqs, ui.messages)
				}
			}},
		{name: "offline PIN last try", opts: cardOpts{cvmList: cvmList("0100")}, mod: withPTC(1),
			cvm: "010002", method: CVMOfflinePlainPIN, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, _ *testCard, ui *testUI) {
				if len(ui.pinReqs) != 1 || !ui.pinReqs[0].LastTry {
					t.Errorf("PIN prompts %+v", ui.pinReqs)
				}
			}},
		{name: "offline PIN tries exhausted", opts: cardOpts{cvmList: cvmList("0100")}, mod: withPTC(2),
			ui: &testUI{pins: [][]byte{wrongPIN, wrongPIN}}, cvm: "010001", method: CVMFailed, tvr: "0000A00000",
			outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, _ *testCard, ui *testUI) {
				if !ui.saw(MsgPINBlocked) {
					t.Errorf("messages %v", ui.messages)
				}
			}},
		{name: "PIN already blocked, then signature", opts: cardOpts{cvmList: cvmList("4100 1E00")}, mod: withPTC(0),
			cvm: "1E0000", method: CVMSignature, tvr: "0000200000", outcome: OutcomeApprovedOffline},
		{name: "PIN try counter unknown", opts: cardOpts{cvmList: cvmList("0100")}, mod: withPTC(-1),
			cvm: "010002", method: CVMOfflinePlainPIN, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, _ *testCard, ui *testUI) {
				if ui.pinReqs[0].TriesLeft != -1 {
					t.Errorf("TriesLeft %d", ui.pinReqs[0].TriesLeft)
				}
			}},
		{name: "PIN bypassed", opts: cardOpts{cvmList: cvmList("4100 1F00")}, ui: &testUI{pins: [][]byte{nil}},
			cvm: "1F0002", method: CVMNone, tvr: "0000080000", outcome: OutcomeApprovedOffline},
		// EMV leaves it to the terminal whether a PIN entry bypassed once
		// counts for the PIN CVMs after it; posd asks for each one.
		{name: "offline PIN bypassed, online PIN still asked", opts: cardOpts{cvmList: cvmList("4100 4200 1F00")},
			ui: &testUI{pins: [][]byte{nil}}, cvm: "420000", method: CVMOnlinePIN, tvr: "00000C0000", outcome: OutcomeOnlineRequest,
			check: func(t *testing.T, _ *Session, _ *testCard, ui *testUI) {
				if len(ui.pinReqs) != 1 || ui.onlineN != 1 {
					t.Errorf("offline PIN asked %d times, online PIN %d", len(ui.pinReqs), ui.onlineN)
				}
			}},
		{name: "PIN block malformed", opts: cardOpts{cvmList: cvmList("0100")}, ui: &testUI{pins: [][]byte{h("2412")}},
			cvm: "010001", method: CVMFailed, tvr: "0000900000", outcome: OutcomeApprovedOffline},
		{name: "enciphered offline PIN with the ICC key", opts: cardOpts{cvmList: cvmList("0400")},
			cvm: "040002", method: CVMOfflineEncPIN, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
				if c.counts["GET CHALLENGE"] != 1 {
					t.Errorf("GET CHALLENGE sent %d times", c.counts["GET CHALLENGE"])
				}
			}},
		{name: "enciphered offline PIN with the PIN key", opts: cardOpts{cvmList: cvmList("0400"), pinKey: true},
			cvm: "040002", method: CVMOfflineEncPIN, outcome: OutcomeApprovedOffline},
		// Book 2 section 7.1: the PIN encipherment key is recovered as
		// the ICC key is (section 6.4), its certificate's expiry date
		// checked: an expired one gives no key and the CVM fails.
		{name: "enciphered offline PIN with an expired PIN key certificate", opts: cardOpts{cvmList: cvmList("0400"), pinKey: true,
			iccExp: cemv.MonthYear{0x01, 0x24}}, cvm: "040001", method: CVMFailed, tvr: "0800800000", outcome: OutcomeOnlineRequest,
			check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
				if c.counts["VERIFY"] != 0 {
					t.Errorf("VERIFY sent %d times", c.counts["VERIFY"])
				}
			}},
		{name: "enciphered offline PIN, wrong PIN", opts: cardOpts{cvmList: cvmList("0400")}, ui: &testUI{pins: [][]byte{wrongPIN, rightPIN}},
			cvm: "040002", method: CVMOfflineEncPIN, outcome: OutcomeApprovedOffline},
		{name: "enciphered offline PIN without a key", opts: cardOpts{oda: "none", cvmList: cvmList("0400")},
			cvm: "040001", method: CVMFailed, tvr: "A000800000", outcome: OutcomeOnlineRequest},
		// Book 2 section 7.2: the PIN is enciphered with the card's 8-byte
		// unpredictable number; a GET CHALLENGE that gives anything else
		// leaves nothing to send, and no VERIFY means no verified PIN.
		{name: "enciphered offline PIN, challenge of the wrong length", opts: cardOpts{cvmList: cvmList("0400")},
			mod: func(c *testCard, _ *testApp) { c.challengeLen = 4 },
			cvm: "040001", method: CVMFailed, tvr: "0000800000", outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, c *testCard, ui *testUI) {
				if c.counts["VERIFY"] != 0 || ui.saw(MsgPINOK) {
					t.Errorf("VERIFY sent %d times, messages %v", c.counts["VERIFY"], ui.messages)
				}
			}},
		{name: "enciphered offline PIN, GET CHALLENGE refused", opts: cardOpts{cvmList: cvmList("0400")},
			mod: func(c *testCard, _ *testApp) { c.challengeSW = 0x6984 },
			cvm: "040001", method: CVMFailed, tvr: "0000800000", outcome: OutcomeApprovedOffline},
		{name: "plaintext PIN and signature", opts: cardOpts{cvmList: cvmList("0300")},
			cvm: "030000", method: CVMOfflinePlainPIN, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, s *Session, _ *testCard, _ *testUI) {
				if !s.CVM().Signature {
					t.Errorf("no signature asked")
				}
			}},
		{name: "enciphered PIN and signature", opts: cardOpts{cvmList: cvmList("0500")}, cvm: "050000", method: CVMOfflineEncPIN, outcome: OutcomeApprovedOffline},
		{name: "online PIN", opts: cardOpts{cvmList: cvmList("0200")}, cvm: "020000", method: CVMOnlinePIN, tvr: "0000040000",
			outcome: OutcomeOnlineRequest,
			check: func(t *testing.T, _ *Session, _ *testCard, ui *testUI) {
				if ui.onlineN != 1 {
					t.Errorf("online PIN asked %d times", ui.onlineN)
				}
			}},
		{name: "online PIN bypassed", opts: cardOpts{cvmList: cvmList("0200")}, ui: &testUI{online: ErrPINBypass},
			cvm: "020001", method: CVMFailed, tvr: "0000880000", outcome: OutcomeApprovedOffline},
		{name: "online PIN entry cancelled", opts: cardOpts{cvmList: cvmList("0200")}, ui: &testUI{online: errors.New("cancel")},
			outcome: OutcomeEndApplication, err: ErrCancelled},
		{name: "signature", opts: cardOpts{cvmList: cvmList("1E00")}, cvm: "1E0000", method: CVMSignature, outcome: OutcomeApprovedOffline},
		{name: "no CVM required", opts: cardOpts{cvmList: cvmList("1F00")}, cvm: "1F0002", method: CVMNone, outcome: OutcomeApprovedOffline},
		{name: "fail CVM processing", opts: cardOpts{cvmList: cvmList("0000 1F00")}, cvm: "000001", method: CVMFailed, tvr: "0000800000",
			outcome: OutcomeApprovedOffline},
		{name: "unrecognised CVM, then signature", opts: cardOpts{cvmList: cvmList("5500 1E00")}, cvm: "1E0000", method: CVMSignature,
			tvr: "0000400000", outcome: OutcomeApprovedOffline},
		{name: "unsupported CVM", opts: cardOpts{cvmList: cvmList("0100")}, cfg: func(c *Config) { c.Terminal.Capabilities[1] = 0x68 },
			cvm: "010001", method: CVMFailed, tvr: "0000900000", outcome: OutcomeApprovedOffline},
		{name: "if terminal supports: skipped", opts: cardOpts{cvmList: cvmList("0103 1F00")}, cfg: func(c *Config) { c.Terminal.Capabilities[1] = 0x68 },
			cvm: "1F0002", method: CVMNone, outcome: OutcomeApprovedOffline},
		{name: "under X: no CVM", opts: cardOpts{cvmList: cvmList("1F06 0200")}, cvm: "1F0602", method: CVMNone, outcome: OutcomeApprovedOffline},
		{name: "over X: online PIN", txn: purchase(15000), opts: cardOpts{cvmList: cvmList("1F06 0207")}, cvm: "020700", method: CVMOnlinePIN,
			outcome: OutcomeOnlineRequest},
		{name: "over Y: signature", txn: purchase(25000), opts: cardOpts{cvmList: cvmList("1F08 1E09")}, cvm: "1E0900", method: CVMSignature,
			outcome: OutcomeApprovedOffline},
		{name: "under Y", txn: purchase(15000), opts: cardOpts{cvmList: cvmList("1F08 1E09")}, cvm: "1F0802", method: CVMNone,
			outcome: OutcomeApprovedOffline},
		{name: "amount condition in another currency", txn: Txn{Amount: 1000, Currency: "840", HostReachable: true},
			opts: cardOpts{cvmList: cvmList("1F06 1E00")}, cvm: "1E0000", method: CVMSignature, outcome: OutcomeOnlineRequest},
		{name: "no condition holds", opts: cardOpts{cvmList: cvmList("1F01 1F04")}, cvm: "3F0001", method: CVMFailed, tvr: "0000800000",
			outcome: OutcomeApprovedOffline},
		{name: "cashback condition", txn: Txn{Amount: 1000, OtherAmount: 100, Currency: "156", Type: TypeCashback, HostReachable: true},
			opts: cardOpts{oda: "none", cvmList: cvmList("1E05 1F00")}, cvm: "1E0500", method: CVMSignature, outcome: OutcomeDeclinedOffline},
		{name: "CVM list missing", opts: cardOpts{drop: []tag{0x8E}}, cvm: "3F0000", method: CVMNone, tvr: "2000000000",
			outcome: OutcomeApprovedOffline},
		{name: "CVM not supported by the card", opts: cardOpts{aip: h("2C00")}, cvm: "3F0000", method: CVMNone, tsi: "A800",
			outcome: OutcomeApprovedOffline},
	})
}
