"""Word lists for the demo generator: Bangladesh places, names, products, captions.

All people, phone numbers, emails and addresses built from these are fake. Emails use the reserved
example.com / example.org / example.net domains (RFC 2606). Brands are invented.
"""
from __future__ import annotations

BANGLA_DIGITS = str.maketrans('0123456789', '০১২৩৪৫৬৭৮৯')


def bangla_digits(text: str) -> str:
  return text.translate(BANGLA_DIGITS)


# name, Bangla name, OpenWeather/GeoNames id, lat, lon (../shared/fixtures/bd_cities.md), areas, post codes
CITIES = (
    ('Dhaka', 'ঢাকা', 1185241, 23.7104, 90.4074,
     ('Dhanmondi', 'Mirpur', 'Uttara', 'Gulshan', 'Mohammadpur', 'Banani', 'Bashundhara'),
     ('1205', '1216', '1230', '1212', '1207', '1213', '1229')),
    ('Chattogram', 'চট্টগ্রাম', 1205733, 22.3569, 91.7832,
     ('Agrabad', 'Nasirabad', 'Halishahar', 'Panchlaish', 'Khulshi'), ('4100', '4203', '4216', '4225')),
    ('Khulna', 'খুলনা', 1336135, 22.8135, 89.5672,
     ('Sonadanga', 'Khalishpur', 'Boyra', 'Daulatpur'), ('9100', '9000', '9202')),
    ('Rajshahi', 'রাজশাহী', 1185128, 24.3704, 88.6367,
     ('Shaheb Bazar', 'Uposhohor', 'Kazla', 'Laxmipur'), ('6100', '6000', '6203')),
    ('Sylhet', 'সিলেট', 1185099, 24.8949, 91.8687,
     ('Zindabazar', 'Amberkhana', 'Subhanighat', 'Uposhohor'), ('3100', '3114')),
    ('Barishal', 'বরিশাল', 1336137, 22.7010, 90.3535,
     ('Nathullabad', 'Sadar Road', 'Rupatoli', 'Band Road'), ('8200', '8206')),
    ('Rangpur', 'রংপুর', 1185188, 25.7466, 89.2517,
     ('Jahaj Company More', 'Dhap', 'Modern More', 'Lalbag'), ('5400', '5402')),
    ('Mymensingh', 'ময়মনসিংহ', 1185162, 24.7471, 90.4203,
     ('Ganginarpar', 'Charpara', 'Kewatkhali', 'Town Hall'), ('2200', '2202')),
)

FIRST_NAMES = ('Rahim', 'Karim', 'Fatema', 'Ayesha', 'Nusrat', 'Tanvir', 'Sadia', 'Mehedi',
               'Farhana', 'Shakil', 'Rubina', 'Imran', 'Sumaiya', 'Arif', 'Jannatul', 'Rakibul',
               'Tahmina', 'Sabbir', 'Nadia', 'Habibur', 'Mahbuba', 'Towhid', 'Shirin', 'Zahidul')
LAST_NAMES = ('Uddin', 'Hossain', 'Rahman', 'Akter', 'Islam', 'Chowdhury', 'Ahmed', 'Begum',
              'Sarkar', 'Khan', 'Talukder', 'Mia', 'Sultana', 'Haque', 'Bhuiyan', 'Siddique')
BANGLA_NAMES = ('রহিম উদ্দিন', 'ফাতেমা আক্তার', 'তানভীর হোসেন', 'নুসরাত জাহান', 'মেহেদী হাসান',
                'সাদিয়া ইসলাম', 'আরিফ চৌধুরী', 'রুবিনা বেগম', 'শাকিল আহমেদ', 'তাহমিনা সুলতানা')

EMAIL_DOMAINS = ('example.com', 'example.org', 'example.net', 'mail.example.com')

# (category, Bangla word, product titles)
PRODUCTS = (
    ('Mobile Accessories', 'চার্জার', ('20W Fast Charger', 'Type-C Cable 1m', 'Power Bank 10000mAh',
                                      'Wireless Earbuds', 'Phone Cover')),
    ('Electronics', 'ইলেকট্রনিক্স', ('LED Bulb 12W', 'Rechargeable Fan', 'Smart Watch',
                                  'Bluetooth Speaker', 'IPS Power Backup')),
    ('Fashion > Saree', 'শাড়ি', ('Jamdani Saree', 'Tangail Cotton Saree', 'Katan Silk Saree',
                                 'Rajshahi Silk Saree')),
    ('Fashion > Panjabi', 'পাঞ্জাবি', ('Eid Cotton Panjabi', 'Embroidered Panjabi', 'Linen Panjabi')),
    ('Groceries', 'মুদি', ('Miniket Rice 5kg', 'Mustard Oil 1L', 'Lentils (Masoor) 1kg',
                          'Hilsa Fish 1kg', 'Tea 400g')),
    ('Beauty', 'বিউটি', ('Herbal Face Wash', 'Sunscreen SPF50', 'Mehedi Cone Pack', 'Hair Oil 200ml')),
    ('Home & Kitchen', 'গৃহস্থালি', ('Non-stick Fry Pan', 'Pressure Cooker 5L', 'Rice Cooker 1.8L',
                                     'Nakshi Kantha Bedsheet')),
)
BRANDS = {  # invented brand names, by category
    'Mobile Accessories': ('Megh Tech', 'Padma Volt'), 'Electronics': ('Padma Volt', 'Megh Tech'),
    'Fashion > Saree': ('Shapla Fashion', 'Kashful'), 'Fashion > Panjabi': ('Kashful', 'Shapla Fashion'),
    'Groceries': ('Doel Foods', 'Shonar Tori'), 'Beauty': ('Bokul Beauty',),
    'Home & Kitchen': ('Nodi Home', 'Shonar Tori'),
}
PRICE_RANGES = {  # BDT, by category
    'Mobile Accessories': (250, 3500), 'Electronics': (180, 9500), 'Fashion > Saree': (1200, 18000),
    'Fashion > Panjabi': (900, 4800), 'Groceries': (90, 1800), 'Beauty': (150, 1400),
    'Home & Kitchen': (450, 6500),
}

EN_HASHTAGS = ('sale', 'offer', 'dhaka', 'bangladesh', 'onlineshopping', 'EidSale', 'review',
               'unboxing', 'fashion', 'foodie', 'homedelivery', 'deshiproduct', 'fyp', 'trending')
BN_HASHTAGS = ('অফার', 'ঈদ_কালেকশন', 'অনলাইন_শপিং', 'ঢাকা', 'বাংলাদেশ', 'দেশি_পণ্য', 'হোম_ডেলিভারি',
               'রিভিউ', 'গরম', 'বৃষ্টি')

# Caption templates. Fields: product, product_bn, price (digits), price_bn (Bangla digits), city,
# city_bn, area, contact (a phone number or an email; PII on purpose), name.
EN_CAPTIONS = (
    'New {product} just dropped! Only ৳{price} 🔥 Order now: {contact}',
    'Eid collection is here 🌙 {product} with free delivery in {city}',
    'Honest review of the {product} — worth ৳{price}? Ask me anything, {contact}',
    'Traffic in {area}, {city} today 😩 stuck for 2 hours',
    'Unboxing my {product} from {name}\'s shop, delivered to {area} in one day',
    'Flash sale till midnight: {product} at ৳{price}. WhatsApp {contact}',
    'Rain again in {city} ☔ stay safe everyone',
)
BN_CAPTIONS = (
    'নতুন {product_bn} এসেছে! দাম মাত্র ৳{price_bn} অর্ডার করতে কল করুন {contact}',
    'ঈদের নতুন কালেকশন 🌙 সারা দেশে হোম ডেলিভারি, {city_bn} তে ২৪ ঘণ্টায়',
    'আজকে {city_bn} এর আবহাওয়া অনেক গরম 🥵',
    'ইনবক্স করুন অথবা মেইল করুন {contact}, {product_bn} স্টকে আছে',
    '{area} এ আজ বিশাল জ্যাম, অফিস যেতে দেরি হলো',
    '{name} আপু, আপনার {product_bn} পাঠিয়ে দিয়েছি ✅ ফোন: {contact}',
)
MIXED_CAPTIONS = (  # Banglish, as typed on phones
    'Price koto? inbox plz {contact}',
    '{product} ta ki available? {area} e delivery hobe?',
    'Amar order ekhono ashe nai 😡 call {contact}',
)
COMMENTS_EN = ('Price please?', 'Is COD available in {city}?', 'Inbox me, {contact}',
               'Received, quality is great 👍', 'Delivery took 5 days 😕', 'Call me on {contact}')
COMMENTS_BN = ('দাম কত?', '{city_bn} তে ডেলিভারি হবে?', 'ইনবক্স চেক করুন', 'আমার নম্বর {contact}',
               'খুব ভালো প্রোডাক্ট 👍')

FB_PAGES = ((104829375601234, 'Shapla Fashion House'), (109384756102938, 'Megh Tech BD'),
            (112093847561029, 'Dhaka Food Diaries'), (117465839201746, 'Doel Foods Online'),
            (120394857610293, 'Bokul Beauty Corner'))

WEATHER = (  # OpenWeather condition id, main, description, icon
    (800, 'Clear', 'clear sky', '01d'), (801, 'Clouds', 'few clouds', '02d'),
    (803, 'Clouds', 'broken clouds', '04d'), (721, 'Haze', 'haze', '50d'),
    (701, 'Mist', 'mist', '50n'), (500, 'Rain', 'light rain', '10d'),
    (501, 'Rain', 'moderate rain', '10d'), (211, 'Thunderstorm', 'thunderstorm', '11d'),
)

SHOPIFY_FINANCIAL = ('paid', 'pending', 'paid', 'authorized', 'refunded', 'partially_refunded')
SHOPIFY_FULFILLMENT = (None, 'fulfilled', None, 'partial')
SHOPIFY_GATEWAYS = (['Cash on Delivery (COD)'], ['bKash'], ['Nagad'], ['SSLCommerz'])
DARAZ_STATUSES = ('pending', 'ready_to_ship', 'shipped', 'delivered', 'canceled', 'returned')
DARAZ_PAYMENT = ('COD', 'bKash', 'Nagad', 'MixedCard')
