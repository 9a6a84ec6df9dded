// Package tr34 builds and opens remote key loading tokens in the manner of
// ANSI X9 TR-34 (2019): a key distribution host (KDH) sends a symmetric key
// (the terminal's key block protection key) to a key receiving device (KRD)
// in a CMS SignedData, signed by the KDH, whose content is a CMS
// EnvelopedData encrypted to the device's RSA public key, carrying the
// random number the device issued against replay (the two-pass protocol).
//
// # Why encoding/asn1
//
// The standard library has no CMS (PKCS #7) and the project takes no crypto
// dependency outside it. The subset TR-34 needs is small — SignedData with
// one signer, EnvelopedData with one KeyTransRecipientInfo, a handful of
// algorithm identifiers — so it is written here with encoding/asn1 (strict
// DER), crypto/rsa, crypto/aes, crypto/sha256 and crypto/x509, and nothing
// else. The package does no I/O; randomness comes in through an io.Reader
// and time through options.
//
// # Algorithms (the whole subset; anything else is ErrUnsupported)
//
//	digest               SHA-256 (parameters absent or NULL)
//	signature            RSASSA-PKCS1-v1_5 with SHA-256, as the TR-34 samples
//	                     sign: written as rsaEncryption, sha256WithRSAEncryption
//	                     accepted. PKCS #1 v1.5 rather than PSS because TR-34
//	                     devices and HSMs implement it; it is deterministic and
//	                     has no known weakness as a signature.
//	key transport        RSAES-OAEP, SHA-256 and MGF1-SHA-256, empty label
//	                     (TR-34 2019 replaced PKCS #1 v1.5 encryption by OAEP)
//	content encryption   AES-256-CBC, random IV, PKCS #7 padding. CMS content
//	                     encryption is a block cipher mode (RFC 3565); AES key
//	                     wrap is for key-encryption keys, not content. CBC is
//	                     unauthenticated, so the integrity comes from the
//	                     signature over the whole EnvelopedData, which is
//	                     verified before anything is decrypted.
//	keys                 RSA of 2048 bits or more (device, KDH, CA)
//
// # The key token (KT_KDH, two-pass)
//
//	ContentInfo {
//	  contentType  id-signedData (1.2.840.113549.1.7.2)
//	  content [0] SignedData {
//	    version 3 (RFC 5652: the content is not id-data; 1 is accepted)
//	    digestAlgorithms  { sha256 }
//	    encapContentInfo {
//	      eContentType  id-envelopedData (1.2.840.113549.1.7.3)
//	      eContent [0]  OCTET STRING (DER of) EnvelopedData {
//	        version 0
//	        recipientInfos { KeyTransRecipientInfo {
//	          version 0
//	          rid                     IssuerAndSerialNumber of the device certificate
//	          keyEncryptionAlgorithm  id-RSAES-OAEP { sha256, mgf1(sha256) }
//	          encryptedKey            RSA-OAEP(device public key, CEK)
//	        } }
//	        encryptedContentInfo {
//	          contentType                 id-data
//	          contentEncryptionAlgorithm  aes256-CBC, IV
//	          encryptedContent [0]        AES-256-CBC(CEK, IV, DER of) KeyBlock {
//	            version          1
//	            idKDH            IssuerAndSerialNumber of the KDH certificate
//	            clearKey         OCTET STRING (the transported key)
//	            attributeHeader  Attribute { id-data, { OCTET STRING (TR-31 header) } }
//	          }
//	        }
//	      }
//	    }
//	    certificates [0]  { the KDH certificate, intermediate CA certificates }
//	    signerInfos { SignerInfo {
//	      version 1
//	      sid               IssuerAndSerialNumber of the KDH certificate
//	      digestAlgorithm   sha256
//	      signedAttrs [0] {
//	        contentType     id-envelopedData
//	        signingTime     UTCTime
//	        randomNonce     (1.2.840.113549.1.9.25.3) OCTET STRING, the device's random number
//	        id-data         OCTET STRING, the TR-31 key block header (in clear)
//	        messageDigest   SHA-256 of the eContent octets
//	      }
//	      signatureAlgorithm  rsaEncryption
//	      signature           RSASSA-PKCS1-v1_5-SHA-256(KDH key, DER of SET OF signedAttrs)
//	    } }
//	  }
//	}
//
// The key's attributes travel as a TR-31 key block header (usage, algorithm,
// mode of use, exportability, optional blocks): once signed in clear, once
// inside the encrypted key block; the two must agree.
//
// # The random number token (RT_KRD)
//
// The device draws a fresh random number (NewNonce) for each exchange and
// sends it as Attribute { randomNonce, { OCTET STRING } } (RandomToken). The
// KDH signs it into the key token; OpenKeyToken refuses a token that does
// not carry the number the device issued. Keeping issued numbers single use
// across restarts is the device's job (terminal/devid).
//
// # Opening a token
//
// OpenKeyToken checks, in this order, and stops at the first failure: DER
// structure and algorithms (ErrFormat, ErrUnsupported); the signer's
// certificate is in the token and chains to a pinned KDH CA at the given
// time (ErrSigner); message digest and signature (ErrSignature); the random
// number (ErrNonce); the recipient is this device's certificate
// (ErrRecipient); only then decryption (ErrDecrypt) and the key block's
// agreement with the signed attributes (ErrKeyBlock). Nothing is decrypted
// before the signature verifies, so no decryption error can be provoked by
// anyone but the pinned KDH.
package tr34
