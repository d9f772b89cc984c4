// Extracts a zip the way Android's capacitor-updater does: java.util.zip.ZipInputStream reading
// local headers front to back, ignoring the central directory. Prints "<sha256> <name>" per
// entry so tests can compare every byte with the source folder.
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

public class StreamExtract {
    public static void main(String[] args) throws Exception {
        try (InputStream in = Files.newInputStream(Paths.get(args[0]));
             ZipInputStream zip = new ZipInputStream(in)) {
            byte[] buffer = new byte[1 << 16];
            ZipEntry entry;
            while ((entry = zip.getNextEntry()) != null) {
                MessageDigest digest = MessageDigest.getInstance("SHA-256");
                int n;
                while ((n = zip.read(buffer)) > 0) {
                    digest.update(buffer, 0, n);
                }
                StringBuilder hex = new StringBuilder();
                for (byte b : digest.digest()) {
                    hex.append(String.format("%02x", b));
                }
                System.out.println(hex + " " + entry.getName());
            }
        }
    }
}
