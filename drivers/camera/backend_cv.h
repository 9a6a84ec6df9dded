// C interface of backend_cv.cpp for cgo.
#ifndef POSD_CAMERA_BACKEND_CV_H
#define POSD_CAMERA_BACKEND_CV_H

#ifdef __cplusplus
extern "C" {
#endif

// posd_camera_has_backend returns 1 if OpenCV's video I/O registry has the
// backend api (a cv::VideoCaptureAPIs value), else 0.
int posd_camera_has_backend(int api);

#ifdef __cplusplus
}
#endif

#endif
