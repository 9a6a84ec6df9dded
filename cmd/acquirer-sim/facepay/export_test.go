package facepay

// PictureInBody is pictureIn, for the tests of package facepay_test.
var PictureInBody = pictureIn
