package face

import "sync/atomic"

// openMats counts the native matrices of every Checker and Attempt of the
// process; each Checker counts its own too.
var openMats atomic.Int64

// OpenMats returns how many native matrices (OpenCV cv::Mat) this package
// holds open now, over all Checkers and Attempts: the cascades' working
// matrices of an open Checker and the frames, tracks and crop of an open
// Attempt. After every Attempt and Checker is closed it is 0. A nocv
// build has none.
func OpenMats() int { return int(openMats.Load()) }

// matCount counts the native matrices of one Checker (its Attempts'
// included).
type matCount struct{ n atomic.Int64 }

func (c *matCount) inc() { c.n.Add(1); openMats.Add(1) }
func (c *matCount) dec() { c.n.Add(-1); openMats.Add(-1) }
