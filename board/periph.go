package board

import (
	"context"
)

// openPeriph initialises periph's host drivers and opens the I²C/SPI/GPIO
// devices of p. Filled in as the drivers land.
func openPeriph(ctx context.Context, b *Board, p Profile) {
}
