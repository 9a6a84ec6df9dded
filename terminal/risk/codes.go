package risk

// Code names the rule that refused a transaction. Codes are the API: the
// sale engine stores the code in the record and the display words it; the
// Reason text beside it is for the field engineer. A code never changes
// meaning once released.
type Code string

// Rule codes, in the order Check applies the rules (the first that refuses
// is the one reported).
const (
	// RuleInvalid: the transaction could not be judged (unknown type or
	// entry mode, amount out of range, a card mode without a valid PAN).
	// A bug of the caller or an unreadable card number.
	RuleInvalid Code = "invalid_txn"
	// RuleUnavailable: the risk state could not be read (database or
	// offline ledger failed, context ended). Refused rather than unchecked.
	RuleUnavailable Code = "risk_unavailable"
	// RuleCurrency: not the currency of the rules' amounts.
	RuleCurrency Code = "currency"
	// RuleHotlistMissing: the rules require a hotlist and none is loaded.
	RuleHotlistMissing Code = "hotlist_missing"
	// RuleHotlist: the card is on the hotlist.
	RuleHotlist Code = "hotlist"
	// RuleMaxAmount*: above the largest amount of the entry mode.
	RuleMaxAmountSwipe  Code = "max_amount_swipe"
	RuleMaxAmountInsert Code = "max_amount_insert"
	RuleMaxAmountTap    Code = "max_amount_tap"
	RuleMaxAmountQR     Code = "max_amount_qr"
	RuleMaxAmountFace   Code = "max_amount_face"
	// RuleOfflineDisabled: host unreachable and offline approvals are
	// disabled (or the terminal has no offline ledger).
	RuleOfflineDisabled Code = "offline_disabled"
	// RuleOfflineType: host unreachable and only sales may be approved
	// offline.
	RuleOfflineType Code = "offline_type"
	// RuleOfflineEntryMode: host unreachable, and wallet codes and face pay
	// need their platform.
	RuleOfflineEntryMode Code = "offline_entry_mode"
	// RuleOfflineMagstripe: host unreachable and swiped cards are not
	// approved offline.
	RuleOfflineMagstripe Code = "offline_magstripe"
	// RuleOfflineFloorLimit: host unreachable and the amount is above the
	// floor limit.
	RuleOfflineFloorLimit Code = "offline_floor_limit"
	// RuleOfflineCVM: host unreachable and the amount needs a PIN that only
	// the host could verify (swipe or tap above its no-CVM limit).
	RuleOfflineCVM Code = "offline_cvm"
	// RuleVelocityCount: the card has had its number of transactions on
	// this terminal within the window.
	RuleVelocityCount Code = "velocity_count"
	// RuleVelocityAmount: with this one, the card's amount on this terminal
	// within the window would be above the limit.
	RuleVelocityAmount Code = "velocity_amount"
	// RuleRefundUnreferenced: the rules require a refund to name the
	// approved sale of this terminal it refunds, and it names none.
	RuleRefundUnreferenced Code = "refund_unreferenced"
	// RuleRefundTotal: with this one, the refunds approved on this
	// terminal within the window would total more than allowed.
	RuleRefundTotal Code = "refund_total"
	// RuleOfflineClock: host unreachable and the terminal's clock cannot
	// date an approval: it is before the firmware's build time, or behind
	// the newest offline approval waiting (it was set back).
	RuleOfflineClock Code = "offline_clock"
	// RuleOfflineCount: host unreachable and as many offline approvals as
	// allowed are waiting to be forwarded.
	RuleOfflineCount Code = "offline_count"
	// RuleOfflineAmount: host unreachable and with this one the offline
	// approvals waiting would total more than allowed.
	RuleOfflineAmount Code = "offline_amount"
	// RuleOfflineAge: host unreachable and the oldest offline approval
	// waiting is older than allowed.
	RuleOfflineAge Code = "offline_age"
)

// Codes lists every code, for the tables that must cover them all (the
// display's texts).
var Codes = []Code{
	RuleInvalid, RuleUnavailable, RuleCurrency, RuleHotlistMissing, RuleHotlist,
	RuleMaxAmountSwipe, RuleMaxAmountInsert, RuleMaxAmountTap, RuleMaxAmountQR, RuleMaxAmountFace,
	RuleOfflineDisabled, RuleOfflineType, RuleOfflineEntryMode, RuleOfflineMagstripe, RuleOfflineFloorLimit, RuleOfflineCVM,
	RuleVelocityCount, RuleVelocityAmount, RuleRefundUnreferenced, RuleRefundTotal,
	RuleOfflineClock, RuleOfflineCount, RuleOfflineAmount, RuleOfflineAge,
}

// maxAmountRule is the code of the per-mode cap of m.
func maxAmountRule(m EntryMode) Code {
	switch m {
	case EntrySwipe:
		return RuleMaxAmountSwipe
	case EntryInsert:
		return RuleMaxAmountInsert
	case EntryTap:
		return RuleMaxAmountTap
	case EntryQR:
		return RuleMaxAmountQR
	}
	return RuleMaxAmountFace
}
