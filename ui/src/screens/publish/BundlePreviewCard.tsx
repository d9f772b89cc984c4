import type { BundlePreview } from '../../bindings/BundlePreview';
import { formatBytes } from '../../lib/format';

/** What will ship: sizes, checksum, largest files, excluded files and warnings. */
export function BundlePreviewCard({ preview }: { preview: BundlePreview }) {
  return (
    <section className="card" aria-label="Bundle preview" data-testid="bundle-preview">
      <h2>What will ship</h2>
      <dl className="facts">
        <div>
          <dt>Files</dt>
          <dd data-testid="file-count">{preview.file_count}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>
            {formatBytes(preview.total_size)} → <strong>{formatBytes(preview.zip_size)}</strong> compressed
          </dd>
        </div>
        <div className="wide">
          <dt>SHA-256</dt>
          <dd className="mono" data-testid="sha256">
            {preview.sha256}
          </dd>
        </div>
      </dl>

      {preview.warnings.length > 0 && (
        <ul className="warnings" aria-label="Warnings">
          {preview.warnings.map((w, i) => (
            <li key={i} className="warning" data-code={w.warning.code}>
              {w.message}
            </li>
          ))}
        </ul>
      )}

      <h3>Largest files</h3>
      <table className="table">
        <thead>
          <tr>
            <th>File</th>
            <th className="num">Size</th>
            <th className="num">In zip</th>
          </tr>
        </thead>
        <tbody>
          {preview.largest_files.map((file) => (
            <tr key={file.path}>
              <td className="mono">{file.path}</td>
              <td className="num">{formatBytes(file.size)}</td>
              <td className="num">{formatBytes(file.compressed_size)}</td>
            </tr>
          ))}
        </tbody>
      </table>

      {preview.excluded.length > 0 && (
        <p className="muted" data-testid="excluded">
          Left out: {preview.excluded.join(', ')}
        </p>
      )}
    </section>
  );
}
