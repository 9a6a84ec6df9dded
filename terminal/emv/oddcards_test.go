package emv

import "testing"

// padRecord appends bytes after the 70 template of a record.
func padRecord(sfi, rec byte, pad string) func(*testCard, *testApp) {
	return func(_ *testCard, a *testApp) {
		k := [2]byte{sfi, rec}
		a.records[k] = append(a.records[k], h(pad)...)
	}
}

// Cards in the field answer READ RECORD with the whole record file,
// its unused bytes erased to FF or 00 after the 70 template. ISO/IEC
// 7816-4 (BER-TLV data objects, section 5.2) lets 00 and FF bytes
// without meaning come before, between and after data objects; the
// signed static data is the template's value, which the padding is
// outside of. Other bytes after the template still end the
// transaction: they are data the issuer's signature does not cover.
func TestContactRecordPadding(t *testing.T) {
	runCases(t, []contactCase{
		{name: "FF padding after the signed template", opts: cardOpts{oda: "sda"}, mod: padRecord(1, 1, "FFFFFFFF"),
			outcome: OutcomeApprovedOffline, tvr: "0200000000", tsi: "E800"},
		{name: "00 padding after the signed template", opts: cardOpts{oda: "sda"}, mod: padRecord(1, 1, "000000"),
			outcome: OutcomeApprovedOffline, tvr: "0200000000", tsi: "E800"},
		{name: "mixed padding after a certificate record", opts: cardOpts{oda: "dda"}, mod: padRecord(2, 1, "00FF00FFFF"),
			outcome: OutcomeApprovedOffline, tvr: "0000000000"},
		{name: "one FF after the template", opts: cardOpts{oda: "dda"}, mod: padRecord(2, 2, "FF"),
			outcome: OutcomeApprovedOffline, tvr: "0000000000"},
		{name: "data object after the template", opts: cardOpts{oda: "sda"}, mod: padRecord(1, 1, "5F2D02656E"),
			outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "other bytes after the template", opts: cardOpts{oda: "sda"}, mod: padRecord(1, 1, "FFFF01"),
			outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "second template after the template", opts: cardOpts{oda: "sda"}, mod: padRecord(1, 1, "70035F3401"),
			outcome: OutcomeEndApplication, err: ErrFormat},
	})
}

// The PSE directory is a record file too: a padded directory record is
// read like an application's record, not dropped for the list of AIDs.
func TestContactPSERecordPadding(t *testing.T) {
	for _, pad := range []string{"FFFFFF", "0000", "FF00"} {
		t.Run(pad, func(t *testing.T) {
			runCases(t, []contactCase{{name: "padded directory", mod: func(c *testCard, _ *testApp) { c.psePad = h(pad) },
				outcome: OutcomeApprovedOffline,
				check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
					// SELECT PSE, READ RECORD 1 and 2, then the final
					// SELECT of the directory's application.
					if len(c.cmds) < 4 || c.cmds[1] != "00B2010C00" || c.cmds[3] != "00A4040007A000000003101000" {
						t.Errorf("commands %v: the directory was not used", c.cmds[:min(4, len(c.cmds))])
					}
				}}})
		})
	}
	runCases(t, []contactCase{{name: "data after the directory template: list of AIDs",
		mod: func(c *testCard, _ *testApp) { c.psePad = h("5F2D02656E") }, outcome: OutcomeApprovedOffline,
		check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
			if c.cmds[3] != "00A4040007A000000004101000" {
				t.Errorf("commands %v: the directory was used", c.cmds[:4])
			}
		}}})
}

// Book 3 section 10.3: a record of SFI 11 to 30 read for offline data
// authentication is signed as its 70 template, tag and length included;
// the padding after it is not part of it.
func TestContactPaddedRecordSignedWhole(t *testing.T) {
	runCases(t, []contactCase{
		{name: "SDA over a padded SFI 11 record", opts: cardOpts{oda: "sda", oddRecord: true}, mod: padRecord(11, 1, "FFFFFF"),
			outcome: OutcomeApprovedOffline, tvr: "0200000000", tsi: "E800"},
		{name: "DDA over a padded SFI 11 record", opts: cardOpts{oda: "dda", oddRecord: true}, mod: padRecord(11, 1, "0000FF"),
			outcome: OutcomeApprovedOffline, tvr: "0000000000"},
	})
}

// A qVSDC card may leave the cryptogram information data out of its GPO
// response; the cryptogram type is then in the CVR of the issuer
// application data. In IAD format 2 (first byte 1F: CVN 22 and later)
// the CVR starts at byte 4 without a length byte, so its first byte,
// IAD byte 4, holds the type; formats 0, 1 and 3 (first byte 06) put
// the CVR's length first and the type in IAD byte 5.
func TestKernel3CryptogramTypeFromIADFormat2(t *testing.T) {
	runCL(t, []clCase{
		{name: "TC", card: quick(quickOpts{noCID: true, iadFmt2: true}), outcome: OutcomeApprovedOffline, kernel: 3},
		{name: "ARQC", card: quick(quickOpts{noCID: true, iadFmt2: true}), txn: tap(60000), outcome: OutcomeOnlineRequest, kernel: 3},
		{name: "AAC", card: quick(quickOpts{noCID: true, iadFmt2: true, cid: 0x01}), outcome: OutcomeDeclinedOffline, kernel: 3},
		{name: "format 0/1/3 ARQC still read from byte 5", card: quick(quickOpts{noCID: true}), txn: tap(60000), outcome: OutcomeOnlineRequest, kernel: 3},
	})
}
