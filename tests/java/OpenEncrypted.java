// Opens an encrypted bundle (or one encrypted delta-manifest file) the way Android's
// capacitor-updater does in CryptoCipher.java: the PKCS#1 `publicKey` wrapped into an X.509
// SubjectPublicKeyInfo for KeyFactory, `RSA/ECB/PKCS1Padding` in DECRYPT_MODE with the PUBLIC key
// for the AES key inside `session_key` and for the signed checksum, `AES/CBC/PKCS5Padding` streamed
// over the file, then the SHA-256 of the result compared with the opened checksum.
//
// Usage: java OpenEncrypted.java PUBLIC_KEY_PEM_FILE ENCRYPTED_FILE SESSION_KEY SIGNED_SHA256_HEX OUT_FILE [zip]
// Prints "sha256 <hex> size <n>"; with "zip", then "<sha256> <name>" per entry of OUT_FILE read with
// ZipInputStream (as StreamExtract.java). Exits 2 on a checksum mismatch, 1 on any other failure.
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.HexFormat;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

public class OpenEncrypted {
    private static final String HEADER = "-----BEGIN RSA PUBLIC KEY-----";
    private static final String FOOTER = "-----END RSA PUBLIC KEY-----";
    // AlgorithmIdentifier { rsaEncryption, NULL }, as the plugin prepends it.
    private static final byte[] RSA_ALGORITHM = {
        0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00
    };

    public static void main(String[] args) throws Exception {
        String pem = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.US_ASCII);
        String sessionKey = args[2];
        String signedChecksum = args[3];
        if (!pem.startsWith(HEADER)) {
            throw new IllegalArgumentException("The public key is not a valid RSA Public key");
        }
        PublicKey publicKey = pkcs1PublicKey(pem);

        String[] parts = sessionKey.split(":");
        if (parts.length != 2) {
            throw new IllegalArgumentException("session_key is not iv:key");
        }
        byte[] iv = Base64.getDecoder().decode(parts[0]);
        byte[] aesKey = decryptRsa(Base64.getDecoder().decode(parts[1]), publicKey);
        if (iv.length != 16 || aesKey.length != 16) {
            throw new IllegalArgumentException("IV and session key must be 16 bytes");
        }

        byte[] signed = HexFormat.of().parseHex(signedChecksum);
        if (signed.length != 256) {
            throw new IllegalArgumentException("Bundle checksum is not encrypted (" + signed.length + " bytes)");
        }
        String expected = HexFormat.of().formatHex(decryptRsa(signed, publicKey));

        Cipher aes = Cipher.getInstance("AES/CBC/PKCS5Padding");
        aes.init(Cipher.DECRYPT_MODE, new SecretKeySpec(aesKey, "AES"), new IvParameterSpec(iv));
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        long size = 0;
        byte[] in = new byte[256 * 1024];
        byte[] out = new byte[in.length + 16];
        try (InputStream input = Files.newInputStream(Paths.get(args[1]));
             OutputStream output = Files.newOutputStream(Paths.get(args[4]))) {
            int n;
            while ((n = input.read(in)) != -1) {
                int produced = aes.update(in, 0, n, out, 0);
                digest.update(out, 0, produced);
                output.write(out, 0, produced);
                size += produced;
            }
            int last = aes.doFinal(out, 0);
            digest.update(out, 0, last);
            output.write(out, 0, last);
            size += last;
        }
        String actual = HexFormat.of().formatHex(digest.digest());
        if (!actual.equals(expected)) {
            System.err.println("Checksum verification failed expected: " + expected + " calculated: " + actual);
            System.exit(2);
        }
        System.out.println("sha256 " + actual + " size " + size);

        if (args.length > 5 && args[5].equals("zip")) {
            listZip(args[4]);
        }
    }

    private static byte[] decryptRsa(byte[] source, PublicKey publicKey) throws Exception {
        Cipher cipher = Cipher.getInstance("RSA/ECB/PKCS1Padding");
        cipher.init(Cipher.DECRYPT_MODE, publicKey);
        return cipher.doFinal(source);
    }

    private static PublicKey pkcs1PublicKey(String pem) throws Exception {
        String body = pem.replaceAll("\\s+", "").replace(HEADER.replace(" ", ""), "").replace(FOOTER.replace(" ", ""), "");
        byte[] pkcs1 = Base64.getDecoder().decode(body);
        ByteArrayOutputStream bitString = new ByteArrayOutputStream();
        bitString.write(0x00); // no unused bits
        bitString.write(pkcs1);
        ByteArrayOutputStream info = new ByteArrayOutputStream();
        info.write(RSA_ALGORITHM);
        info.write(der(0x03, bitString.toByteArray()));
        return KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(der(0x30, info.toByteArray())));
    }

    private static byte[] der(int tag, byte[] value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int length = value.length;
        if (length <= 0x7F) {
            out.write(length);
        } else if (length <= 0xFF) {
            out.write(0x81);
            out.write(length);
        } else {
            out.write(0x82);
            out.write(length >> 8);
            out.write(length & 0xFF);
        }
        out.write(value, 0, value.length);
        return out.toByteArray();
    }

    private static void listZip(String path) throws Exception {
        try (InputStream in = Files.newInputStream(Paths.get(path));
             ZipInputStream zip = new ZipInputStream(in)) {
            byte[] buffer = new byte[1 << 16];
            ZipEntry entry;
            while ((entry = zip.getNextEntry()) != null) {
                MessageDigest digest = MessageDigest.getInstance("SHA-256");
                int n;
                while ((n = zip.read(buffer)) > 0) {
                    digest.update(buffer, 0, n);
                }
                System.out.println(HexFormat.of().formatHex(digest.digest()) + " " + entry.getName());
            }
        }
    }
}
