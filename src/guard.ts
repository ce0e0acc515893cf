/**
 * Runs `fn`, turning a synchronous throw into a rejected promise: every async
 * public method validates its arguments synchronously, and a caller must get
 * a rejection, never a throw, from a method that returns a promise.
 */
export function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}
