/** Everything a container (or an exec'd process) wrote on a piped stream, once it closed. */
export function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!stream) return reject(new Error('no stream'));
    let out = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => { out += d; });
    stream.on('end', () => resolve(out));
    stream.on('error', reject);
  });
}
