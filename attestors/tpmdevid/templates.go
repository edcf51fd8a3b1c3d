package tpmdevid

import (
	"encoding/binary"

	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"
)

// EKCertIndex is the NV index of the RSA EK certificate (TCG EK Credential Profile).
const EKCertIndex = tpmutil.Handle(0x01c00002)

// ekPolicy is PolicySecret(TPM_RH_ENDORSEMENT), the authPolicy of the TCG default EK.
var ekPolicy = []byte{
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
	0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
}

var aes128CFB = &tpm2.SymScheme{Alg: tpm2.AlgAES, KeyBits: 128, Mode: tpm2.AlgCFB}

// EKTemplateRSA is the TCG default RSA 2048 EK template (EK Credential Profile, L-1):
// the EK a TPM's manufacturer certified is recreated from it.
func EKTemplateRSA() tpm2.Public {
	return tpm2.Public{
		Type:    tpm2.AlgRSA,
		NameAlg: tpm2.AlgSHA256,
		Attributes: tpm2.FlagFixedTPM | tpm2.FlagFixedParent | tpm2.FlagSensitiveDataOrigin |
			tpm2.FlagAdminWithPolicy | tpm2.FlagRestricted | tpm2.FlagDecrypt,
		AuthPolicy:    ekPolicy,
		RSAParameters: &tpm2.RSAParams{Symmetric: aes128CFB, KeyBits: 2048, ModulusRaw: make([]byte, 256)},
	}
}

const storageAttrs = tpm2.FlagFixedTPM | tpm2.FlagFixedParent | tpm2.FlagSensitiveDataOrigin |
	tpm2.FlagUserWithAuth | tpm2.FlagNoDA | tpm2.FlagRestricted | tpm2.FlagDecrypt

// SRKTemplate is the storage key DevID keys are created under: the TCG high-range SRK
// templates (H-1 for RSA, H-2 for ECC keys), as tpm2_createprimary -C o and SPIRE use.
func SRKTemplate(alg tpm2.Algorithm) tpm2.Public {
	if alg == tpm2.AlgECC {
		return tpm2.Public{Type: tpm2.AlgECC, NameAlg: tpm2.AlgSHA256, Attributes: storageAttrs,
			ECCParameters: &tpm2.ECCParams{Symmetric: aes128CFB, CurveID: tpm2.CurveNISTP256}}
	}
	return tpm2.Public{Type: tpm2.AlgRSA, NameAlg: tpm2.AlgSHA256, Attributes: storageAttrs,
		RSAParameters: &tpm2.RSAParams{Symmetric: aes128CFB, KeyBits: 2048}}
}

// akTemplate is a restricted RSA signing key: the TPM signs with it only what it made
// itself (TPMS_ATTEST), which is what makes its certification of the DevID key mean
// anything.
func akTemplate() tpm2.Public {
	return tpm2.Public{
		Type:    tpm2.AlgRSA,
		NameAlg: tpm2.AlgSHA256,
		Attributes: tpm2.FlagFixedTPM | tpm2.FlagFixedParent | tpm2.FlagSensitiveDataOrigin |
			tpm2.FlagUserWithAuth | tpm2.FlagNoDA | tpm2.FlagRestricted | tpm2.FlagSign,
		RSAParameters: &tpm2.RSAParams{Sign: &tpm2.SigScheme{Alg: tpm2.AlgRSASSA, Hash: tpm2.AlgSHA256}, KeyBits: 2048},
	}
}

// unwrap2B drops the two-byte size of a TPM2B_PUBLIC or TPM2B_PRIVATE, as tpm2_create
// writes them, so blobs from tpm2-tools and from go-tpm (SPIRE's format) both load.
func unwrap2B(b []byte) []byte {
	if len(b) >= 2 && int(binary.BigEndian.Uint16(b)) == len(b)-2 {
		return b[2:]
	}
	return b
}
