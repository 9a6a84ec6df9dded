//go:build !nocv

package camera

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include "backend_cv.h"
*/
import "C"

import "gocv.io/x/gocv"

// HasGStreamer reports whether the OpenCV this program is linked with has
// its GStreamer video I/O backend, which "gst:" sources need. Debian 12's
// OpenCV 4.6.0 has it (opencv_version -v: "GStreamer: YES (1.22.0)"), on
// amd64 and arm64 alike; an OpenCV built without it makes New return an
// *UnsupportedError for such sources.
func HasGStreamer() bool { return hasBackend(gocv.VideoCaptureGstreamer) }

// hasBackend asks cv::videoio_registry::hasBackend, which gocv v0.31.0
// does not wrap.
func hasBackend(api gocv.VideoCaptureAPI) bool {
	return C.posd_camera_has_backend(C.int(api)) != 0
}
