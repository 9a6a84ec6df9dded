//go:build !nocv

#include <opencv2/videoio/registry.hpp>

#include "backend_cv.h"

int posd_camera_has_backend(int api) {
	try {
		return cv::videoio_registry::hasBackend(static_cast<cv::VideoCaptureAPIs>(api)) ? 1 : 0;
	} catch (...) {
		return 0;
	}
}
