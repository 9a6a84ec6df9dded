package face

import "sync/atomic"

// openMats counts the native matrices of every Checker and Attempt of the
// process; each Checker counts its own too.
var openMats atomic.Int64

// OpenMats returns how many native matrices (OpenCV cv::Mat) this package
// holds open now, over all Attempts: an open Attempt's working copies of
// the picture, its crop, and the matrices of a frame being looked at.
// Once every Attempt is closed it is 0. A nocv build has none.
func OpenMats() int { return int(openMats.Load()) }
