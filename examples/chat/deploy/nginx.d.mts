// Types of nginx.mjs (the template renderer, for the tests).
export const NGINX_TEMPLATE: string;
export function renderNginxConf(template: string, values: Record<string, string | number>): string;
