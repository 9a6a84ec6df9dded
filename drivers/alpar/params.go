package alpar

import "fmt"

// CardParams is the answer of get_card_parameters (A6h).
//
// AN10207 lists the command (A6h) and documents its answer, but the
// section giving that layout was not available to this project, and no
// public host code for the chip that parses the answer could be found
// (the host code read for this driver sends card_command, check_pres_card,
// send_num_mask, set_serial_baud_rate, power_up and power_off only). So the
// driver interprets nothing it cannot vouch for: Raw is the payload as the
// chip sent it. The parameters the card announced (protocols, FiDi, guard
// time, T=1 sizes) come, well defined, from its answer to reset: see
// ParseATR with the answer of PowerUp.
type CardParams struct {
	// Raw is the answer's payload, at least one byte.
	Raw []byte
}

// ParseCardParams checks the payload of a get_card_parameters answer and
// returns it as CardParams (copied).
func ParseCardParams(p []byte) (CardParams, error) {
	if len(p) == 0 || len(p) > MaxPayload {
		return CardParams{}, fmt.Errorf("alpar: card parameters of %d bytes: %w", len(p), ErrBadResponse)
	}
	return CardParams{Raw: append([]byte(nil), p...)}, nil
}
