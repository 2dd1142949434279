// One original into the source bucket, with upload progress. fetch() reports no upload
// progress, so this is the request supabase-js's storage.upload() sends (multipart, the file in
// a part with an empty field name, cacheControl beside it) made with XMLHttpRequest.
import { accessToken, anonKey, sourceBucket, supabaseUrl } from './client.js';

/** Where an original goes: grouped by vehicle, never overwriting another. */
export function objectPath(vehicleId, fileName) {
  const safe = fileName.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'photo';
  const id = crypto.randomUUID().replaceAll('-', '').slice(0, 12);
  return `${vehicleId}/${id}-${safe}`;
}

/** The file name a person gave, from an object path made by objectPath(). */
export function displayName(path) {
  const last = path.split('/').pop() ?? path;
  return last.replace(/^[0-9a-f]{12}-/, '');
}

/** Upload `file` to `path`; onProgress(fraction) as bytes go out. Resolves to the path. */
export async function uploadOriginal(path, file, onProgress) {
  const token = await accessToken();
  const url = `${supabaseUrl}/storage/v1/object/${sourceBucket}/${path.split('/').map(encodeURIComponent).join('/')}`;
  const body = new FormData();
  body.append('cacheControl', '3600');
  body.append('', file);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('apikey', anonKey);
    xhr.setRequestHeader('Authorization', `Bearer ${token ?? anonKey}`);
    xhr.setRequestHeader('x-upsert', 'false');
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(path);
        return;
      }
      let message = `Storage answered ${xhr.status}.`;
      try {
        const answer = JSON.parse(xhr.responseText);
        if (answer.message) message = `Storage refused the upload: ${answer.message}.`;
      } catch {
        // not JSON (a proxy's HTML page): keep the status sentence
      }
      reject(new Error(message));
    });
    xhr.addEventListener('error', () => reject(new Error('The upload could not reach Storage.')));
    xhr.send(body);
  });
}
