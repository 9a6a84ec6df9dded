//go:build !nocv

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/wechat_qrcode.hpp>

#include "qr_cv.h"

struct posd_qr {
	cv::wechat_qrcode::WeChatQRCode wechat; // without its CNN models
	cv::QRCodeDetector finder;              // detection only: Debian's OpenCV has no quirc
};

static char *dup_cstr(const char *s) {
	size_t n = strlen(s);
	char *p = static_cast<char *>(malloc(n + 1));
	if (p != nullptr) {
		memcpy(p, s, n + 1);
	}
	return p;
}

posd_qr_t *posd_qr_new(char **err) {
	try {
		return new posd_qr();
	} catch (const std::exception &e) {
		*err = dup_cstr(e.what());
	} catch (...) {
		*err = dup_cstr("unknown C++ exception");
	}
	return nullptr;
}

void posd_qr_delete(posd_qr_t *q) { delete q; }

// keep appends the decoded texts of got to texts and reports whether
// there were any.
static bool keep(std::vector<std::string> &texts, const std::vector<std::string> &got) {
	bool any = false;
	for (const std::string &s : got) {
		if (!s.empty()) {
			texts.push_back(s);
			any = true;
		}
	}
	return any;
}

// around returns the bounding box of the quadrangle at row i of quads
// (4 corners, x and y as floats), widened by a quarter of its size for the
// quiet zone and clipped to size.
static cv::Rect around(const cv::Mat &quads, int i, cv::Size size) {
	std::vector<cv::Point2f> corners;
	const float *p = quads.ptr<float>(0) + i * 8;
	for (int j = 0; j < 4; j++) {
		corners.emplace_back(p[2 * j], p[2 * j + 1]);
	}
	cv::Rect r = cv::boundingRect(corners);
	int pad = std::max(8, std::max(r.width, r.height) / 4);
	return cv::Rect(r.x - pad, r.y - pad, r.width + 2 * pad, r.height + 2 * pad) & cv::Rect(cv::Point(), size);
}

// quadCount returns how many quadrangles QRCodeDetector put in quads.
static int quadCount(const cv::Mat &quads) {
	if (quads.empty() || quads.depth() != CV_32F || !quads.isContinuous() || quads.total() * quads.channels() % 8 != 0) {
		return 0;
	}
	return static_cast<int>(quads.total() * quads.channels() / 8);
}

static void sharpen(const cv::Mat &in, cv::Mat &out) {
	cv::Mat soft;
	cv::GaussianBlur(in, soft, cv::Size(), 2);
	cv::addWeighted(in, 2, soft, -1, 0, out);
}

// QRCodeDetector scales a picture up until its shorter side is 512
// pixels: on a thin or tiny picture that costs far more than the search
// is worth (a 22x300 picture becomes 512x6982). The stages that use it
// run only on pictures at least finder_min_side pixels on each side, and
// the retry, which doubles the picture, only up to retry_max_area pixels.
static const int finder_min_side = 240;
static const int retry_max_area = 1280 * 960;

static int search(posd_qr_t *q, const cv::Mat &grey, int stages, std::vector<std::string> &texts) {
	if (std::min(grey.cols, grey.rows) < finder_min_side) {
		stages &= POSD_QR_WHOLE;
	}
	if (grey.cols * grey.rows > retry_max_area) {
		stages &= ~POSD_QR_RETRY;
	}
	int found = 0;
	// WeChatQRCode tries a picture at half scale first when a side is
	// 640 or more, then at full scale. Read at full scale first, a
	// 640x480 frame holding a code of 3 to 5 px modules (half scale fails
	// on those) is read two to four times faster, and as well otherwise
	// (measured): drop its last column.
	cv::Mat whole = grey;
	if (grey.cols == 640 && grey.rows < 640) {
		whole = grey.colRange(0, 639).clone();
	} else if (grey.rows == 640 && grey.cols < 640) {
		whole = grey.rowRange(0, 639).clone();
	}
	if ((stages & POSD_QR_WHOLE) && keep(texts, q->wechat.detectAndDecode(whole))) {
		found |= POSD_QR_WHOLE;
	}
	if ((stages & POSD_QR_REGIONS) && found) {
		cv::Mat quads;
		int n = q->finder.detectMulti(grey, quads) ? quadCount(quads) : 0;
		if (n > static_cast<int>(texts.size())) {
			for (int i = 0; i < n; i++) {
				cv::Rect r = around(quads, i, grey.size());
				if (r.width > 20 && r.height > 20 && keep(texts, q->wechat.detectAndDecode(grey(r).clone()))) {
					found |= POSD_QR_REGIONS;
				}
			}
		}
	}
	if (found || !(stages & POSD_QR_RETRY)) {
		return found;
	}
	cv::Mat quads, big;
	cv::resize(grey, big, cv::Size(), 2, 2, cv::INTER_CUBIC);
	if (!q->finder.detect(big, quads) || quadCount(quads) < 1) {
		return 0;
	}
	cv::Rect r = around(quads, 0, big.size());
	if (r.width <= 20 || r.height <= 20) {
		return 0;
	}
	cv::Mat crop = big(r).clone(), sharp;
	if (keep(texts, q->wechat.detectAndDecode(crop))) {
		return POSD_QR_RETRY;
	}
	sharpen(crop, sharp);
	if (keep(texts, q->wechat.detectAndDecode(sharp))) {
		return POSD_QR_RETRY;
	}
	return 0;
}

int posd_qr_decode(posd_qr_t *q, const void *mat, const unsigned char *data, int rows, int cols,
	int channels, int stages, char **out, size_t *outlen, int *found, char **err) {
	*out = nullptr;
	*outlen = 0;
	*found = 0;
	try {
		cv::Mat in;
		if (mat != nullptr) {
			in = *static_cast<const cv::Mat *>(mat); // a header: shares the pixels
		} else if (data != nullptr && rows > 0 && cols > 0 && (channels == 1 || channels == 3 || channels == 4)) {
			in = cv::Mat(rows, cols, CV_8UC(channels), const_cast<unsigned char *>(data));
		}
		if (in.empty() || in.dims != 2 || in.depth() != CV_8U ||
			(in.channels() != 1 && in.channels() != 3 && in.channels() != 4)) {
			return POSD_QR_BAD_FORMAT;
		}
		cv::Mat grey;
		switch (in.channels()) {
		case 3:
			cv::cvtColor(in, grey, cv::COLOR_BGR2GRAY);
			break;
		case 4:
			cv::cvtColor(in, grey, cv::COLOR_BGRA2GRAY);
			break;
		default:
			grey = in.isContinuous() ? in : in.clone(); // WeChatQRCode reads rows*cols bytes
		}
		std::vector<std::string> texts;
		*found = search(q, grey, stages, texts);
		size_t n = 0;
		for (const std::string &s : texts) {
			n += 4 + s.size();
		}
		if (n == 0) {
			return POSD_QR_OK;
		}
		char *buf = static_cast<char *>(malloc(n));
		if (buf == nullptr) {
			throw std::bad_alloc();
		}
		char *p = buf;
		for (const std::string &s : texts) {
			uint32_t len = static_cast<uint32_t>(s.size());
			memcpy(p, &len, 4);
			memcpy(p + 4, s.data(), s.size());
			p += 4 + s.size();
		}
		*out = buf;
		*outlen = n;
		return POSD_QR_OK;
	} catch (const std::exception &e) {
		*err = dup_cstr(e.what());
	} catch (...) {
		*err = dup_cstr("unknown C++ exception");
	}
	*found = 0;
	return POSD_QR_FAILED;
}
