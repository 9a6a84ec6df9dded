// C interface of qr_cv.cpp for cgo: OpenCV's cv::QRCodeDetector behind
// calls that never throw and hand every result over in memory that Go
// frees (gocv v0.31.0's own wrappers leak the single result, hand back
// the multi results in freed memory, and let C++ exceptions escape).
#ifndef POSD_CAMERA_QR_CV_H
#define POSD_CAMERA_QR_CV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct posd_qr posd_qr_t;

// The stages of posd_qr_decode, run in this order.
enum {
	// WeChatQRCode on the whole grey picture (it reads one code).
	POSD_QR_WHOLE = 1,
	// Only when a code was read: QRCodeDetector::detectMulti; when it
	// finds more codes than were read, WeChatQRCode on each code's region.
	POSD_QR_REGIONS = 2,
	// Only when nothing was read: QRCodeDetector::detect on the picture
	// scaled 2x; WeChatQRCode on the region it finds, then on the region
	// sharpened.
	POSD_QR_RETRY = 4
};

// Results of posd_qr_decode.
enum {
	POSD_QR_OK = 0,
	POSD_QR_BAD_FORMAT = 1, // not an 8-bit picture of 1, 3 or 4 channels
	POSD_QR_FAILED = 2      // OpenCV threw; *err says what
};

// posd_qr_new returns a new detector, or NULL with *err set (free it).
posd_qr_t *posd_qr_new(char **err);

// posd_qr_delete releases a detector.
void posd_qr_delete(posd_qr_t *q);

// posd_qr_decode searches one picture: the cv::Mat at mat when mat is not
// NULL, else rows x cols pixels of channels bytes (1 grey, 3 BGR, 4 BGRA)
// packed at data, which is only read. On POSD_QR_OK, *out (free it; NULL
// when nothing was found) holds *outlen bytes: for each decoded text a
// 4-byte length in native byte order, then the text; *found is the stage
// that found them, 0 for none. On POSD_QR_FAILED, *err is set (free it).
int posd_qr_decode(posd_qr_t *q, const void *mat, const unsigned char *data, int rows, int cols,
	int channels, int stages, char **out, size_t *outlen, int *found, char **err);

#ifdef __cplusplus
}
#endif

#endif
